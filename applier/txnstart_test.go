package applier

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The entries here are in the shapes mongod logs a transaction in
// (mongodb/mongo src/mongo/db/op_observer/op_observer_impl.cpp and
// src/mongo/db/transaction/transaction_operations.cpp; the conformance
// cases txn_large_multi_entry_partialTxn_chain, txn_prepared_then_committed
// and txn_large_prepared_then_committed): op "c" on admin.$cmd with lsid
// {id, uid}, txnNumber, t, v, wall, and prevOpTime, the null optime
// {ts: Timestamp(0, 0), t: -1} in a transaction's first entry and the
// transaction's previous entry in every later one (partialTxn entries, the
// last applyOps with count, the prepare, commitTransaction).

// srcTxn logs one transaction's entries, chaining them by prevOpTime.
type srcTxn struct {
	lsid bson.D
	num  int64
	prev bson.Timestamp // zero: no entry logged yet
}

func newSrcTxn(session byte, num int64) *srcTxn {
	id := make([]byte, 16)
	id[0] = session
	return &srcTxn{lsid: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id}}, {Key: "uid", Value: bson.Binary{Subtype: 0, Data: make([]byte, 32)}}}, num: num}
}

func at(sec uint32) bson.Timestamp { return bson.Timestamp{T: 1700000000 + sec, I: 1} }

func (x *srcTxn) entry(t testing.TB, ts bson.Timestamp, o bson.D) bson.Raw {
	prev := bson.D{{Key: "ts", Value: bson.Timestamp{}}, {Key: "t", Value: int64(-1)}}
	if !x.prev.IsZero() {
		prev = bson.D{{Key: "ts", Value: x.prev}, {Key: "t", Value: int64(1)}}
	}
	x.prev = ts
	return bsontest.Raw(t, bson.D{{Key: "lsid", Value: x.lsid}, {Key: "txnNumber", Value: x.num}, {Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"},
		{Key: "o", Value: o}, {Key: "ts", Value: ts}, {Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)},
		{Key: "wall", Value: bson.DateTime(int64(ts.T) * 1000)}, {Key: "prevOpTime", Value: prev}})
}

func opsArray(ops []bson.D) bson.A {
	a := bson.A{}
	for _, op := range ops {
		a = append(a, op)
	}
	return a
}

// partial is a partialTxn entry.
func (x *srcTxn) partial(t testing.TB, ts bson.Timestamp, ops ...bson.D) bson.Raw {
	return x.entry(t, ts, bson.D{{Key: "applyOps", Value: opsArray(ops)}, {Key: "partialTxn", Value: true}})
}

// last is the last applyOps entry of a chain (its implicit commit), or a
// single-entry transaction's only entry; count is the transaction's ops.
func (x *srcTxn) last(t testing.TB, ts bson.Timestamp, count int64, ops ...bson.D) bson.Raw {
	return x.entry(t, ts, bson.D{{Key: "applyOps", Value: opsArray(ops)}, {Key: "count", Value: count}})
}

// prepare is the prepare entry (with count when it ends a chain).
func (x *srcTxn) prepare(t testing.TB, ts bson.Timestamp, ops ...bson.D) bson.Raw {
	return x.entry(t, ts, bson.D{{Key: "applyOps", Value: opsArray(ops)}, {Key: "prepare", Value: true}})
}

// commit is a prepared transaction's commitTransaction.
func (x *srcTxn) commit(t testing.TB, ts bson.Timestamp) bson.Raw {
	return x.entry(t, ts, bson.D{{Key: "commitTransaction", Value: int32(1)}, {Key: "commitTimestamp", Value: x.prev}})
}

// record is the transaction's config.transactions record, open in state
// (prepared or inProgress) since its first entry at start (mongodb/mongo
// src/mongo/db/session_txn_record.idl, 4.4).
func (x *srcTxn) record(t testing.TB, state string, start bson.Timestamp) bson.Raw {
	return bsontest.Raw(t, bson.D{{Key: "_id", Value: x.lsid}, {Key: "txnNum", Value: x.num},
		{Key: "lastWriteOpTime", Value: bson.D{{Key: "ts", Value: start}, {Key: "t", Value: int64(1)}}},
		{Key: "lastWriteDate", Value: bson.DateTime(int64(start.T) * 1000)}, {Key: "state", Value: state},
		{Key: "startOpTime", Value: bson.D{{Key: "ts", Value: start}, {Key: "t", Value: int64(1)}}}})
}

// srcInsert is a top-level insert of {_id: id} into t.c at ts.
func srcInsert(t testing.TB, ts bson.Timestamp, id int) bson.Raw {
	return bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "t.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: id}}},
		{Key: "ts", Value: ts}, {Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)}, {Key: "wall", Value: bson.DateTime(int64(ts.T) * 1000)}})
}

// srcSetX is a $v:2 update setting x on _id id in t.c at ts.
func srcSetX(t testing.TB, ts bson.Timestamp, id, x int) bson.Raw {
	return bsontest.Raw(t, bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: "t.c"},
		{Key: "o", Value: bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "x", Value: x}}}}}}},
		{Key: "o2", Value: bson.D{{Key: "_id", Value: id}}},
		{Key: "ts", Value: ts}, {Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)}, {Key: "wall", Value: bson.DateTime(int64(ts.T) * 1000)}})
}

// pinCase is a source at the moment a copy pins: its oplog (before and
// after), the newest entry read before the transactions table (before),
// the table's open records, T0, what the copy holds (the source after T0,
// before any later write), and the source's end.
type pinCase struct {
	name       string
	oplog      []bson.Raw
	before, t0 bson.Timestamp
	records    []bson.Raw
	copied     []bson.D
	want       []string // t.c at the end, as Extended JSON
}

func pinCases(t testing.TB) []pinCase {
	a, b, c, d, e := newSrcTxn(1, 7), newSrcTxn(2, 8), newSrcTxn(3, 9), newSrcTxn(4, 10), newSrcTxn(5, 11)
	prepared := newSrcTxn(6, 12)
	return []pinCase{
		{
			// Its first entry precedes T0 (and the newest entry before the
			// table's read); the rest and its commit follow T0.
			name: "partialTxn chain straddling T0",
			oplog: []bson.Raw{
				srcInsert(t, at(10), 100),
				a.partial(t, at(11), insertOp("t.c", 1), insertOp("t.c", 2)),
				srcInsert(t, at(12), 101),
				srcSetX(t, at(13), 100, 1),
				a.partial(t, at(14), insertOp("t.c", 3)),
				a.last(t, at(15), 4, insertOp("t.c", 4)),
				srcSetX(t, at(16), 101, 2),
			},
			before: at(12), t0: at(13), records: []bson.Raw{a.record(t, "inProgress", at(11))},
			copied: []bson.D{{{Key: "_id", Value: 100}, {Key: "x", Value: 1}}, {{Key: "_id", Value: 101}}},
			want:   []string{`{"_id":1}`, `{"_id":2}`, `{"_id":3}`, `{"_id":4}`, `{"_id":100,"x":1}`, `{"_id":101,"x":2}`},
		},
		{
			name: "prepared before T0, committed after",
			oplog: []bson.Raw{
				b.prepare(t, at(10), insertOp("t.c", 1), insertOp("t.c", 2)),
				srcInsert(t, at(11), 100),
				srcInsert(t, at(12), 101),
				b.commit(t, at(13)),
				srcInsert(t, at(14), 102),
			},
			before: at(11), t0: at(12), records: []bson.Raw{b.record(t, "prepared", at(10))},
			copied: []bson.D{{{Key: "_id", Value: 100}}, {{Key: "_id", Value: 101}}},
			want:   []string{`{"_id":1}`, `{"_id":2}`, `{"_id":100}`, `{"_id":101}`, `{"_id":102}`},
		},
		{
			name: "large prepared: partialTxn and prepare before T0, commit after",
			oplog: []bson.Raw{
				c.partial(t, at(10), insertOp("t.c", 1)),
				srcInsert(t, at(11), 100),
				c.prepare(t, at(12), insertOp("t.c", 2)),
				srcInsert(t, at(13), 101),
				c.commit(t, at(14)),
			},
			before: at(13), t0: at(13), records: []bson.Raw{c.record(t, "prepared", at(10))},
			copied: []bson.D{{{Key: "_id", Value: 100}}, {{Key: "_id", Value: 101}}},
			want:   []string{`{"_id":1}`, `{"_id":2}`, `{"_id":100}`, `{"_id":101}`},
		},
		{
			// Not in the table (it began after the table's snapshot), but
			// after the newest entry read before it: the spool holds it.
			name: "chain begun between the read before the table and T0, committed after T0",
			oplog: []bson.Raw{
				srcInsert(t, at(10), 100),
				d.partial(t, at(11), insertOp("t.c", 1)),
				srcInsert(t, at(12), 101),
				d.last(t, at(13), 2, insertOp("t.c", 2)),
			},
			before: at(10), t0: at(12),
			copied: []bson.D{{{Key: "_id", Value: 100}}, {{Key: "_id", Value: 101}}},
			want:   []string{`{"_id":1}`, `{"_id":2}`, `{"_id":100}`, `{"_id":101}`},
		},
		{
			// Begun before the spool's start, ended before the table's
			// snapshot (so not open in it), at or before T0: the copy holds
			// its effects; its commit in the spool needs nothing.
			name: "chain and prepared transaction begun before the spool, ended before T0",
			oplog: []bson.Raw{
				e.partial(t, at(9), insertOp("t.c", 1)),
				prepared.prepare(t, at(10), insertOp("t.c", 5)),
				srcInsert(t, at(11), 100),
				e.last(t, at(12), 2, insertOp("t.c", 2)),
				prepared.commit(t, at(13)),
				srcInsert(t, at(14), 101),
				srcInsert(t, at(15), 102),
			},
			before: at(11), t0: at(14),
			copied: []bson.D{{{Key: "_id", Value: 1}}, {{Key: "_id", Value: 2}}, {{Key: "_id", Value: 5}}, {{Key: "_id", Value: 100}}, {{Key: "_id", Value: 101}}},
			want:   []string{`{"_id":1}`, `{"_id":2}`, `{"_id":5}`, `{"_id":100}`, `{"_id":101}`, `{"_id":102}`},
		},
	}
}

// TestApplier_TransactionsOpenAtT0 runs what an initial copy does with
// transactions open when it pins T0: the spool starts where
// copier.SpoolFrom says for the source's transactions table at the pin
// (records in mongod's shape), the state file holds T0, the destination
// what the copy read, and the applier drains the spool: every transaction
// committed after T0 reaches the destination whole, entries between the
// spool's start and T0 are replayed over the copy harmlessly, and a
// transaction that ended before T0 but began before the spool needs
// nothing.
func TestApplier_TransactionsOpenAtT0(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx := context.Background()
	for _, c := range pinCases(t) {
		t.Run(c.name, func(t *testing.T) {
			resetServer(t, client)
			open, ok, err := copier.OldestOpen(c.records)
			if err != nil {
				t.Fatal(err)
			}
			var o *copier.OpenTxn
			if ok {
				o = &open
			}
			from := copier.SpoolFrom(c.before, c.t0, o)
			var spooled []bson.Raw
			for _, e := range c.oplog {
				if ts, i, _ := e.Lookup("ts").TimestampOK(); !(bson.Timestamp{T: ts, I: i}).Before(from) {
					spooled = append(spooled, e)
				}
			}
			spoolDir := spoolOplog(t, spooled)
			state := filepath.Join(filepath.Dir(spoolDir), "state.db")
			recordCopy(t, state, c.t0)
			if len(c.copied) > 0 {
				if _, err := client.Database("t").Collection("c").InsertMany(ctx, c.copied); err != nil {
					t.Fatal(err)
				}
			}
			if err := applyAll(t, client, spoolDir, state); err != nil {
				t.Fatalf("spool from %d,%d (T0 %d,%d): %v", from.T, from.I, c.t0.T, c.t0.I, err)
			}
			if got := collDocs(t, client.Database("t").Collection("c")); !slices.Equal(got, c.want) {
				t.Fatalf("t.c holds %v, want %v", got, c.want)
			}
		})
	}
}

// recordCopy records in the state file at path a copy pinned at t0 that
// has ended there.
func recordCopy(t testing.TB, path string, t0 bson.Timestamp) {
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetT0(t0); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCopyEnd(t0); err != nil {
		t.Fatal(err)
	}
	if err := st.SetStage(store.StageApplied); err != nil {
		t.Fatal(err)
	}
}

// collDocs is a collection's documents as relaxed Extended JSON, by _id.
func collDocs(t testing.TB, c *mongo.Collection) []string {
	cur, err := c.Find(context.Background(), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.Raw
	if err := cur.All(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, d := range got {
		b, err := bson.MarshalExtJSON(d, false, false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// unknownCases are spools that begin inside a transaction whose commit
// follows T0 (or with no copy at all): the entry named by stop continues or
// commits a transaction whose first entry the spool lacks.
func unknownCases(t testing.TB) []struct {
	name  string
	oplog []bson.Raw
	t0    bson.Timestamp // zero: no copy (an incremental start)
	stop  uint64         // the seq of the entry that must stop the applier
	txnID []int          // the transaction's documents, none of which may be applied
} {
	type uc = struct {
		name  string
		oplog []bson.Raw
		t0    bson.Timestamp
		stop  uint64
		txnID []int
	}
	// Each transaction's first entries are logged but left out of the spool.
	chain, commit, prep, large := newSrcTxn(7, 21), newSrcTxn(8, 22), newSrcTxn(9, 23), newSrcTxn(10, 24)
	chain.partial(t, at(1), insertOp("t.c", 1))
	commit.partial(t, at(1), insertOp("t.c", 1))
	prep.prepare(t, at(1), insertOp("t.c", 1))
	large.partial(t, at(1), insertOp("t.c", 1))
	return []uc{
		{"a partialTxn continuation", []bson.Raw{
			srcInsert(t, at(10), 100),
			chain.partial(t, at(11), insertOp("t.c", 2)),
			chain.last(t, at(12), 3, insertOp("t.c", 3)),
		}, at(10), 2, []int{1, 2, 3}},
		{"the last applyOps of a chain", []bson.Raw{
			srcInsert(t, at(10), 100),
			commit.last(t, at(11), 2, insertOp("t.c", 2)),
		}, bson.Timestamp{}, 2, []int{1, 2}},
		{"a commitTransaction", []bson.Raw{
			srcInsert(t, at(10), 100),
			prep.commit(t, at(11)),
		}, at(10), 2, []int{1}},
		{"a prepare ending a chain", []bson.Raw{
			srcInsert(t, at(10), 100),
			large.prepare(t, at(11), insertOp("t.c", 2)),
			large.commit(t, at(12)),
		}, bson.Timestamp{}, 2, []int{1, 2}},
	}
}

// TestTranslate_UnknownTransaction: an entry that continues or commits a
// transaction the translator never saw begin is an translate.UnknownTxnError in an
// exec.EntryError that names its seq and ts, the session and the txnNumber;
// nothing of it is translated, and it opens no transaction.
func TestTranslate_UnknownTransaction(t *testing.T) {
	for _, c := range unknownCases(t) {
		t.Run(c.name, func(t *testing.T) {
			tr := translate.NewTranslator(nil)
			for i, e := range c.oplog {
				seq := uint64(i + 1)
				ops, err := tr.AppendOps(nil, seq, at(uint32(10+i)), e)
				if seq < c.stop {
					if err != nil {
						t.Fatalf("seq %d: %v", seq, err)
					}
					continue
				}
				checkUnknown(t, err, c.oplog[c.stop-1], c.stop)
				if len(ops) != 0 || tr.PendingSince() != 0 {
					t.Fatalf("the unknown transaction gave %d ops and left PendingSince %d", len(ops), tr.PendingSince())
				}
				return
			}
		})
	}
}

// checkUnknown checks that err names the entry e at seq as an entry of a
// transaction whose start is unknown.
func checkUnknown(t *testing.T, err error, e bson.Raw, seq uint64) {
	t.Helper()
	var ee *exec.EntryError
	var ue *translate.UnknownTxnError
	if !errors.As(err, &ee) || !errors.As(err, &ue) {
		t.Fatalf("err %v, want an EntryError carrying an UnknownTxnError", err)
	}
	num := e.Lookup("txnNumber").Int64()
	tsT, tsI := e.Lookup("ts").Timestamp()
	ts := bson.Timestamp{T: tsT, I: tsI}
	if ee.Seq != seq || ee.TS != ts || ue.Seq != seq || ue.TS != ts || ue.TxnNumber != num {
		t.Fatalf("err %v (seq %d ts %v, txnNumber %d), want seq %d ts %v txnNumber %d", err, ee.Seq, ee.TS, ue.TxnNumber, seq, ts, num)
	}
	for _, want := range []string{fmt.Sprintf("seq %d ts %d,%d", seq, ts.T, ts.I), e.Lookup("lsid").String(), fmt.Sprintf("txnNumber %d", num)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// TestApplier_UnknownTransactionStops runs the pipeline (oplog file ->
// reader -> spool -> applier -> test server) over spools that begin inside
// a transaction committed after T0 (or without a copy): the applier stops at
// the entry with the error naming it, with everything before it applied and
// checkpointed and nothing of the transaction applied; a restart stops there
// again.
func TestApplier_UnknownTransactionStops(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx := context.Background()
	for _, c := range unknownCases(t) {
		t.Run(c.name, func(t *testing.T) {
			resetServer(t, client)
			spoolDir := spoolOplog(t, c.oplog)
			state := filepath.Join(filepath.Dir(spoolDir), "state.db")
			if !c.t0.IsZero() {
				recordCopy(t, state, c.t0)
			}
			for _, run := range []string{"first run", "restart"} {
				err := applyAll(t, client, spoolDir, state)
				checkUnknown(t, err, c.oplog[c.stop-1], c.stop)
				st, err := store.Open(state)
				if err != nil {
					t.Fatal(err)
				}
				ck, err := st.Checkpoint()
				st.Close()
				if err != nil {
					t.Fatal(err)
				}
				if ck.Seq != c.stop-1 {
					t.Errorf("%s: checkpoint at seq %d, want %d (the entry before the unknown one)", run, ck.Seq, c.stop-1)
				}
				coll := client.Database("t").Collection("c")
				for _, id := range c.txnID {
					if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); n != 0 {
						t.Errorf("%s: _id %d of the transaction was applied", run, id)
					}
				}
				if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: 100}}); n != 1 {
					t.Errorf("%s: the entry before the unknown one was not applied", run)
				}
			}
		})
	}
}
