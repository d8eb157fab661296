package reader

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// oplogTS is the ts of the insert of _id id into app.items.
func oplogTS(t *testing.T, src *testmongo.Server, id int) bson.Timestamp {
	t.Helper()
	raw, err := src.Client().Database("local").Collection("oplog.rs").FindOne(context.Background(),
		bson.D{{Key: "ns", Value: "app.items"}, {Key: "op", Value: "i"}, {Key: "o._id", Value: id}}).Raw()
	if err != nil {
		t.Fatalf("oplog entry of _id %d: %v", id, err)
	}
	return tsOf(raw)
}

// trimOplog deletes every oplog entry older than ts, as a capped oplog that
// rolled over does (the "initiating set" entry goes first).
func trimOplog(t *testing.T, src *testmongo.Server, ts bson.Timestamp) {
	src.RequireTestServer(t, "deletes from local.oplog.rs to trim it, which a replica set forbids")
	t.Helper()
	oplog := src.Client().Database("local").Collection("oplog.rs")
	if _, err := oplog.DeleteMany(context.Background(), bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: ts}}}}); err != nil {
		t.Fatal(err)
	}
}

// TestReader_RefusesStartBeforeOldestEntry: a fresh start strictly older
// than the oldest oplog entry is refused, naming both; a start at the oldest
// entry, or any start while the oplog was never trimmed, is fine.
func TestReader_RefusesStartBeforeOldestEntry(t *testing.T) {
	src := testmongo.StartSource(t)
	src.RequireTestServer(t, "needs an oplog never trimmed, then trims it (deletes from local.oplog.rs, which a replica set forbids)")
	coll := src.Client().Database("app").Collection("items")
	insertN(t, coll, 0, 10)

	// Never trimmed (the oldest entry is "initiating set"): any start is fine.
	dir := t.TempDir()
	r := startReader(t, src.URI, dir, bson.Timestamp{T: 1}, nil)
	waitSpooled(t, r, dir, 10)
	r.stop(t)

	first, oldest := oplogTS(t, src, 0), oplogTS(t, src, 5)
	trimOplog(t, src, oldest) // the inserts of _id 0-4 are gone
	cases := []struct {
		name  string
		start bson.Timestamp
		want  int // entries spooled; -1: refused
	}{
		{"one second after the epoch", bson.Timestamp{T: 1}, -1},
		{"the first insert, now trimmed", first, -1},
		{"just before the oldest entry", bson.Timestamp{T: oldest.T, I: oldest.I - 1}, -1},
		{"the oldest entry", oldest, 5},
		{"after the oldest entry", oplogTS(t, src, 7), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := startReader(t, src.URI, dir, tc.start, nil)
			if tc.want >= 0 {
				es := waitSpooled(t, r, dir, tc.want)
				r.stop(t)
				if id, _ := es[0].Raw.Lookup("o", "_id").AsInt64OK(); len(es) != tc.want || id != int64(10-tc.want) {
					t.Fatalf("spooled %d entries from _id %d, want %d from _id %d", len(es), id, tc.want, 10-tc.want)
				}
				return
			}
			var err error
			select {
			case err = <-r.done:
			case <-time.After(15 * time.Second):
				r.cancel()
				t.Fatalf("the reader accepted start %s, older than the oldest entry %s", oplog.FormatTS(tc.start), oplog.FormatTS(oldest))
			}
			if !errors.Is(err, ErrRolledOver) || !strings.Contains(err.Error(), oplog.FormatTS(tc.start)) ||
				!strings.Contains(err.Error(), oplog.FormatTS(oldest)) || !strings.Contains(err.Error(), "fresh copy") {
				t.Fatalf("got %v, want a refusal naming the start %s, the oldest entry %s and a fresh copy", err, oplog.FormatTS(tc.start), oplog.FormatTS(oldest))
			}
			if n := len(spooled(t, dir)); n != 0 {
				t.Fatalf("%d entries spooled before the refusal", n)
			}
		})
	}
}
