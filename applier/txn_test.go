package applier

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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

// TestApplier_FailedTransactionRestart runs the real pipeline (oplog file
// -> reader -> spool -> applier -> test server) over a transaction whose
// commit cannot be translated: the applier stops at the commit with the
// checkpoint below the transaction's first entry and none of it applied. A
// restart (a new Applier and Translator on the same store and spool, as
// after a crash; nothing fixed) stops at the same entry, again with nothing
// of the transaction applied: never a part of it.
func TestApplier_FailedTransactionRestart(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx := context.Background()
	for _, c := range failedTxnCases(t) {
		t.Run(c.name, func(t *testing.T) {
			resetServer(t, client)
			spoolDir := spoolOplog(t, c.oplog)
			state := filepath.Join(filepath.Dir(spoolDir), "state.db")
			for _, run := range []string{"first run", "restart"} {
				err := applyAll(t, client, spoolDir, state)
				var ee *exec.EntryError
				if !errors.As(err, &ee) || ee.Seq != c.commit {
					t.Errorf("%s: %v, want a stop at the commit, seq %d", run, err, c.commit)
				}
				st, err := store.Open(state)
				if err != nil {
					t.Fatal(err)
				}
				ck, err := st.Checkpoint()
				st.Close()
				if err != nil {
					t.Fatal(err)
				}
				if ck.Seq >= c.first {
					t.Errorf("%s: checkpoint at seq %d, want below the transaction's first entry %d", run, ck.Seq, c.first)
				}
				coll := client.Database("t").Collection("c")
				for _, id := range c.txnIDs {
					if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); n != 0 {
						t.Errorf("%s: _id %d of the untranslatable transaction was applied", run, id)
					}
				}
				if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: 100}}); n != 1 {
					t.Errorf("%s: the entry before the transaction was not applied", run)
				}
			}
		})
	}
}

// TestApplier_TransactionAcrossBatches: the ops of a transaction's entries
// wait for its commit in later batches, while each new batch is read into
// the memory of the one before (spool.Reader.Release). Every entry is a
// batch of its own here, and the entries between are longer than the
// transaction's, so they overwrite all of its bytes: ops kept without a
// copy would come back as padding, or as another entry's document.
func TestApplier_TransactionAcrossBatches(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx := context.Background()
	pad := strings.Repeat("p", 600)
	padded := func(ts uint32, id int) bson.Raw {
		return bsontest.Raw(t, bson.D{{Key: "ts", Value: bson.Timestamp{T: ts, I: 1}}, {Key: "op", Value: "i"}, {Key: "ns", Value: "t.other"},
			{Key: "o", Value: bson.D{{Key: "_id", Value: id}, {Key: "pad", Value: pad}}}})
	}
	for _, c := range []struct {
		name  string
		oplog []bson.Raw
	}{
		{"chain", []bson.Raw{
			txnEntry(t, 1, "partialTxn", insertOp("t.c", 1), insertOp("t.c", 2)),
			padded(2, 100),
			txnEntry(t, 3, "partialTxn", insertOp("t.c", 3)),
			padded(4, 101),
			padded(5, 102),
			txnEntry(t, 6, "", insertOp("t.c", 4)),
		}},
		{"prepared", []bson.Raw{
			txnEntry(t, 1, "prepare", insertOp("t.c", 1), insertOp("t.c", 2), insertOp("t.c", 3), insertOp("t.c", 4)),
			padded(2, 100),
			padded(3, 101),
			padded(4, 102),
			commitEntry(t, 5),
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resetServer(t, client)
			spoolDir := spoolOplog(t, c.oplog)
			state := filepath.Join(filepath.Dir(spoolDir), "state.db")
			if err := runApplierBatches(t, client, spoolDir, state, func(*store.Store) *translate.Translator { return translate.NewTranslator(nil) }, 1); err != nil {
				t.Fatalf("applier: %v", err)
			}
			for coll, ids := range map[string][]int{"c": {1, 2, 3, 4}, "other": {100, 101, 102}} {
				cur, err := client.Database("t").Collection(coll).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
				if err != nil {
					t.Fatal(err)
				}
				var got []struct {
					ID int `bson:"_id"`
				}
				if err := cur.All(ctx, &got); err != nil {
					t.Fatal(err)
				}
				var have []int
				for _, d := range got {
					have = append(have, d.ID)
				}
				if !slices.Equal(have, ids) {
					t.Errorf("t.%s holds _ids %v, want %v", coll, have, ids)
				}
			}
		})
	}
}

// TestApplier_RestartBetweenInterleavedPreparedTransactions: a shard logs
// the prepare of a cross-shard transaction when it prepares and its
// commitTransaction when the coordinator decides (mongodb/mongo
// src/mongo/db/op_observer/op_observer_impl.cpp, onTransactionPrepare and
// onPreparedTransactionCommit), so prepared transactions interleave: T
// prepares, T2 prepares, T commits. The checkpoint after T's commit stays
// below T2's prepare, which lies after T's: a restart reads T's
// commitTransaction again without its prepare. When the runs of this state
// file read T's prepare (it lies after the copy's spool start), T was
// applied before that checkpoint was recorded (a checkpoint never passes
// the first entry of a transaction not yet applied): the restart passes
// over it and applies T2 whole. The same for an incremental sync, whose
// first run records the first entry it reads. Where reading began lies
// after T's prepare (a rewind past it; a spool that starts inside T:
// TestApplier_UnknownTransactionStops), the restart stops as before: T's
// commit alone would apply a part of it.
func TestApplier_RestartBetweenInterleavedPreparedTransactions(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	tx, tx2 := newSrcTxn(1, 5), newSrcTxn(2, 7)
	oplog := []bson.Raw{
		srcInsert(t, at(1), 100),
		tx.prepare(t, at(2), insertOp("t.c", 1), insertOp("t.c", 2)),
		tx2.prepare(t, at(3), insertOp("t.c", 3)),
		tx.commit(t, at(4)),
		srcInsert(t, at(5), 101),
		tx2.commit(t, at(6)),
		srcInsert(t, at(7), 102),
	}
	checkpoint := func(state string) store.Checkpoint {
		st, err := store.Open(state)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ck, err := st.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}
	for _, c := range []struct {
		name     string
		readFrom bson.Timestamp // the copy's spool start; zero: an incremental sync
	}{
		{"a copy's spool", at(1)},
		{"an incremental sync", bson.Timestamp{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resetServer(t, client)
			// The first run's spool ends after T's commit; the restart's
			// holds the same entries (the same seqs) and what came since.
			first := spoolOplog(t, oplog[:5])
			state := filepath.Join(t.TempDir(), "state.db")
			if !c.readFrom.IsZero() {
				st, err := store.Open(state)
				if err != nil {
					t.Fatal(err)
				}
				st.SetSpoolFrom(c.readFrom)
				st.Close()
			}
			if err := applyAll(t, client, first, state); err != nil {
				t.Fatalf("first run: %v", err)
			}
			if ck := checkpoint(state); ck.Seq != 2 {
				t.Fatalf("checkpoint after the first run at seq %d, want 2 (below T2's prepare)", ck.Seq)
			}
			if err := applyAll(t, client, spoolOplog(t, oplog), state); err != nil {
				t.Fatalf("restart: %v", err)
			}
			if got, want := collDocs(t, client.Database("t").Collection("c")), []string{`{"_id":1}`, `{"_id":2}`, `{"_id":3}`, `{"_id":100}`, `{"_id":101}`, `{"_id":102}`}; !slices.Equal(got, want) {
				t.Fatalf("t.c holds %v, want %v", got, want)
			}
		})
	}
	// A rewind to an entry after T's prepare and before its commit: the
	// replay reads T's commit without its prepare, in its first run and in
	// every later one, also once a checkpoint past the prepare is recorded.
	t.Run("a rewind past the prepare", func(t *testing.T) {
		resetServer(t, client)
		tx := newSrcTxn(3, 9)
		plain := []bson.Raw{
			srcInsert(t, at(1), 100),
			tx.prepare(t, at(2), insertOp("t.c", 1)),
			srcInsert(t, at(3), 101),
			tx.commit(t, at(4)),
		}
		spoolDir := spoolOplog(t, plain)
		state := filepath.Join(filepath.Dir(spoolDir), "state.db")
		st, err := store.Open(state)
		if err != nil {
			t.Fatal(err)
		}
		st.SetSpoolFrom(at(1))
		st.Close()
		if err := applyAll(t, client, spoolDir, state); err != nil {
			t.Fatalf("first run: %v", err)
		}
		sr, err := spool.OpenReader(spoolDir)
		if err != nil {
			t.Fatal(err)
		}
		st, err = store.Open(state)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Rewind(context.Background(), sr, st, 3, bson.Timestamp{}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		sr.Close()
		for _, run := range []string{"the replay", "its restart"} {
			err := applyAll(t, client, spoolDir, state)
			var u *translate.UnknownTxnError
			if !errors.As(err, &u) || u.Seq != 4 {
				t.Fatalf("%s: %v, want a stop at T's commit (seq 4)", run, err)
			}
			if ck := checkpoint(state); ck.Seq != 3 {
				t.Fatalf("%s: checkpoint at seq %d, want 3", run, ck.Seq)
			}
		}
	})
}
