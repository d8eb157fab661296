package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/reader"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// insertTS is the oplog ts of the insert of _id id into app.items.
func insertTS(t *testing.T, src *testmongo.Server, id int) bson.Timestamp {
	t.Helper()
	var e struct {
		TS bson.Timestamp `bson:"ts"`
	}
	if err := src.Client().Database("local").Collection("oplog.rs").FindOne(context.Background(),
		bson.D{{Key: "ns", Value: "app.items"}, {Key: "op", Value: "i"}, {Key: "o._id", Value: id}}).Decode(&e); err != nil {
		t.Fatalf("oplog entry of _id %d: %v", id, err)
	}
	return e.TS
}

// TestStart_RefusesGapBeforeOldestEntry: the initial copy pins T0, the
// source takes more inserts, then its oplog loses its oldest entries (T0 and
// some inserts after it), as a capped oplog that rolled over does. Every way
// of starting a fresh reader from before the oldest entry left must stop
// with an error naming the start and the oldest entry, spooling nothing;
// starting at the oldest entry is fine.
func TestStart_RefusesGapBeforeOldestEntry(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	src.RequireTestServer(t, "deletes from local.oplog.rs to trim it, which a replica set forbids")
	coll := src.Client().Database("app").Collection("items")
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	copied := t.TempDir()
	copyConf := testsync.WriteConfig(t, copied, src.URI, dst.URI, "")
	if out, err := run(t, "copy", "-f", copyConf); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	for i := 10; i < 20; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	oldest := insertTS(t, src, 15)
	if _, err := src.Client().Database("local").Collection("oplog.rs").DeleteMany(ctx,
		bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: oldest}}}}); err != nil {
		t.Fatal(err)
	}
	optimeFile := filepath.Join(t.TempDir(), "optime")
	if err := reader.WriteOptimeFile(optimeFile, bson.Timestamp{T: 1}); err != nil {
		t.Fatal(err)
	}
	fresh := func() string { return testsync.WriteConfig(t, t.TempDir(), src.URI, dst.URI, "") }
	cases := []struct {
		name  string
		args  []string
		start string // the start the error must name
	}{
		{"reader after copy (T0 in the spool)", []string{"reader", "-f", copyConf}, "T0"},
		{"sync after copy (T0 in the spool)", []string{"sync", "-f", copyConf}, "T0"},
		{"reader --start-optime 1", []string{"reader", "-f", fresh(), "--start-optime", "1"}, "1,0"},
		{"reader --optime-logfile", []string{"reader", "-f", fresh(), "--optime-logfile", optimeFile}, "1,0"},
		{"sync --start-optime 1", []string{"sync", "-f", fresh(), "--start-optime", "1"}, "1,0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, tc.args...)
			var err error
			select {
			case <-p.exited:
				err = p.err
			case <-time.After(30 * time.Second):
				t.Fatalf("still running after 30s: a start older than the oldest oplog entry was accepted:\n%s", p.output())
			}
			out := p.output()
			if err == nil || !strings.Contains(out, "older than the oldest entry") || !strings.Contains(out, tc.start) ||
				!strings.Contains(out, oplog.FormatTS(oldest)) || !strings.Contains(out, "fresh copy") {
				t.Fatalf("exit %v; want a refusal naming the start %s, the oldest entry %s and a fresh copy:\n%s", err, tc.start, oplog.FormatTS(oldest), out)
			}
			t.Log(out[strings.LastIndex(out, "mongo-sync: "):])
		})
	}
	if es := spooledData(t, filepath.Join(copied, "spool")); len(es) != 0 {
		t.Fatalf("%d entries spooled after T0 though the oplog lost some of them", len(es))
	}

	// At the oldest entry nothing is lost: the reader spools _id 15-19.
	dir := t.TempDir()
	p := start(t, "reader", "-f", testsync.WriteConfig(t, dir, src.URI, dst.URI, ""), "--start-optime", oplog.FormatTS(oldest))
	p.waitLog(t, 30*time.Second, "starting at") // the spool exists: spooledData fails on a missing one
	waitFor(t, 30*time.Second, "5 entries spooled", func() bool { return len(spooledData(t, filepath.Join(dir, "spool"))) >= 5 })
	if err := p.term(t); err != nil {
		t.Fatalf("reader: %v\n%s", err, p.output())
	}
	if es := spooledData(t, filepath.Join(dir, "spool")); len(es) != 5 {
		t.Fatalf("spooled %d entries from the oldest one, want 5", len(es))
	}
}
