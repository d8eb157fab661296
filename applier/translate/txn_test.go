package translate

import (
	"errors"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// txnLsid is the session of the transactions built by txnEntry.
var txnLsid = bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}

// insertOp is an applyOps inner insert of {_id: id} into ns.
func insertOp(ns string, id int) bson.D {
	return bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: ns}, {Key: "o", Value: bson.D{{Key: "_id", Value: id}}}}
}

// badOp is an applyOps inner op the translator does not know.
var badOp = bson.D{{Key: "op", Value: "z"}, {Key: "ns", Value: "a.b"}, {Key: "o", Value: bson.D{}}}

// txnEntry is an applyOps entry of transaction 5 of txnLsid; flag is
// "partialTxn", "prepare" or "" (a single-entry transaction or the implicit
// commit of a chain).
func txnEntry(t testing.TB, ts uint32, flag string, ops ...bson.D) bson.Raw {
	arr := bson.A{}
	for _, op := range ops {
		arr = append(arr, op)
	}
	o := bson.D{{Key: "applyOps", Value: arr}}
	if flag != "" {
		o = append(o, bson.E{Key: flag, Value: true})
	}
	return bsontest.Raw(t, bson.D{{Key: "ts", Value: bson.Timestamp{T: ts, I: 1}}, {Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"},
		{Key: "o", Value: o}, {Key: "lsid", Value: txnLsid}, {Key: "txnNumber", Value: int64(5)}})
}

// commitEntry is the commitTransaction of a prepared transaction 5.
func commitEntry(t testing.TB, ts uint32) bson.Raw {
	return bsontest.Raw(t, bson.D{{Key: "ts", Value: bson.Timestamp{T: ts, I: 1}}, {Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"},
		{Key: "o", Value: bson.D{{Key: "commitTransaction", Value: 1}, {Key: "commitTimestamp", Value: bson.Timestamp{T: ts, I: 1}}}},
		{Key: "lsid", Value: txnLsid}, {Key: "txnNumber", Value: int64(5)}})
}

// plainInsert is a top-level insert of {_id: id} into ns.
func plainInsert(t testing.TB, ts uint32, ns string, id int) bson.Raw {
	return bsontest.Raw(t, bson.D{{Key: "ts", Value: bson.Timestamp{T: ts, I: 1}}, {Key: "op", Value: "i"}, {Key: "ns", Value: ns},
		{Key: "o", Value: bson.D{{Key: "_id", Value: id}}}})
}

// failedTxnCases are transactions whose commit cannot be translated. The
// entries are seq 1.. in order; first is the seq of the transaction's first
// entry, commit the seq of its commit; txnIDs are its documents in "t.c".
func failedTxnCases(t testing.TB) []struct {
	name          string
	oplog         []bson.Raw
	first, commit uint64
	txnIDs        []int
} {
	type tc = struct {
		name          string
		oplog         []bson.Raw
		first, commit uint64
		txnIDs        []int
	}
	return []tc{
		{"chain, bad op in the commit entry", []bson.Raw{
			plainInsert(t, 1, "t.c", 100),
			txnEntry(t, 2, "partialTxn", insertOp("t.c", 1)),
			plainInsert(t, 3, "t.c", 101),
			txnEntry(t, 4, "", insertOp("t.c", 2), badOp),
		}, 2, 4, []int{1, 2}},
		{"chain, bad op in a partial entry", []bson.Raw{
			plainInsert(t, 1, "t.c", 100),
			txnEntry(t, 2, "partialTxn", insertOp("t.c", 1), badOp),
			plainInsert(t, 3, "t.c", 101),
			txnEntry(t, 4, "", insertOp("t.c", 2)),
		}, 2, 4, []int{1, 2}},
		{"prepared, bad op", []bson.Raw{
			plainInsert(t, 1, "t.c", 100),
			txnEntry(t, 2, "prepare", insertOp("t.c", 1), badOp),
			plainInsert(t, 3, "t.c", 101),
			commitEntry(t, 4),
		}, 2, 4, []int{1}},
	}
}

// TestTranslate_FailedCommitStaysPending: a commit whose ops cannot be
// translated leaves its transaction pending (the checkpoint stays below its
// first entry), and a second try fails the same way.
func TestTranslate_FailedCommitStaysPending(t *testing.T) {
	for _, c := range failedTxnCases(t) {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTranslator(nil)
			var err error
			for i, e := range c.oplog {
				if _, err = tr.AppendOps(nil, uint64(i+1), bson.Timestamp{T: uint32(i + 1), I: 1}, e); err != nil {
					if uint64(i+1) != c.commit {
						t.Fatalf("seq %d: %v", i+1, err)
					}
					break
				}
			}
			var ee *exec.EntryError
			if !errors.As(err, &ee) || ee.Seq != c.commit {
				t.Fatalf("commit: %v, want an EntryError at seq %d", err, c.commit)
			}
			if p := tr.PendingSince(); p != c.first {
				t.Fatalf("after the failed commit PendingSince = %d, want %d (the transaction's first entry)", p, c.first)
			}
			pending := len(tr.txns[mustTxnKey(t, c.oplog[c.first-1])].ops)
			if _, err2 := tr.AppendOps(nil, c.commit, bson.Timestamp{T: uint32(c.commit), I: 1}, c.oplog[c.commit-1]); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second try: %v, want %v", err2, err)
			}
			if n := len(tr.txns[mustTxnKey(t, c.oplog[c.first-1])].ops); n != pending {
				t.Fatalf("a failed commit grew the pending transaction from %d to %d ops", pending, n)
			}
		})
	}
}

func mustTxnKey(t testing.TB, raw bson.Raw) string {
	k, ok := txnKey(raw)
	if !ok {
		t.Fatal("entry has no lsid/txnNumber")
	}
	return k
}
