package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestCopy_SpoolStartsAtOpenTransaction: a transaction the source's
// config.transactions holds as inProgress when the copy pins T0 (a record
// in mongod's 4.4 shape, mongodb/mongo src/mongo/db/session_txn_record.idl,
// written by the test into what is an ordinary collection on the test
// server; its startOpTime is an entry of the source's oplog) moves the
// spool's start back to that entry, while the state file's T0 stays the
// newest entry. The reader then spools from there, and the applier replays
// the entries between that start and T0 over the copy harmlessly: the
// destination ends equal to the source.
func TestCopy_SpoolStartsAtOpenTransaction(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	src.RequireTestServer(t, "writes config.transactions to fake an open transaction; mongod owns that collection")
	ctx := context.Background()
	coll := src.Client().Database("app").Collection("items")
	for i := 0; i < 10; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int{3, 5} {
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}}); err != nil {
			t.Fatal(err)
		}
	}
	txnStart := insertTS(t, src, 3)
	record := bson.D{
		{Key: "_id", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}, {Key: "uid", Value: bson.Binary{Subtype: 0, Data: make([]byte, 32)}}}},
		{Key: "txnNum", Value: int64(4)},
		{Key: "lastWriteOpTime", Value: bson.D{{Key: "ts", Value: txnStart}, {Key: "t", Value: int64(1)}}},
		{Key: "lastWriteDate", Value: bson.DateTime(time.Now().UnixMilli())},
		{Key: "state", Value: "inProgress"},
		{Key: "startOpTime", Value: bson.D{{Key: "ts", Value: txnStart}, {Key: "t", Value: int64(1)}}},
	}
	if _, err := src.Client().Database("config").Collection("transactions").InsertOne(ctx, record); err != nil {
		t.Fatalf("write config.transactions: %v", err)
	}
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "")
	if out, err := run(t, "copy", "-f", conf); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	from, ok, err := spool.Start(filepath.Join(dir, "spool"))
	if err != nil || !ok || from != txnStart {
		t.Fatalf("spool start %v (recorded %v, %v), want %v: the open transaction's startOpTime", from, ok, err, txnStart)
	}
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := st.T0()
	st.Close()
	if !insertTS(t, src, 9).Before(t0) {
		t.Fatalf("T0 %v, want the newest entry, after the last insert %v", t0, insertTS(t, src, 9))
	}

	// Writes after T0, then sync: the reader spools from the start, the
	// applier replays _id 3-9 and the updates over the copy.
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 10}, {Key: "v", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 4}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 2}}}}); err != nil {
		t.Fatal(err)
	}
	p := start(t, "sync", "-f", conf)
	want := docs(t, coll)
	waitFor(t, 60*time.Second, "the destination equal to the source", func() bool {
		return same(docs(t, dst.Client().Database("app").Collection("items")), want)
	})
	if err := p.term(t); err != nil {
		t.Fatalf("sync: %v\n%s", err, p.output())
	}
	es := spooledData(t, filepath.Join(dir, "spool"))
	if len(es) == 0 || es[0].TS != txnStart {
		first := bson.Timestamp{}
		if len(es) > 0 {
			first = es[0].TS
		}
		t.Fatalf("%d entries spooled, the first at %v; want the first at the open transaction's start %v", len(es), first, txnStart)
	}
	if got := docs(t, dst.Client().Database("app").Collection("items")); !same(got, want) {
		t.Fatalf("destination %v, want %v", got, want)
	}
}
