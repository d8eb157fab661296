package reader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// An idle cursor whose oplog holds newer entries the reader would keep has
// stalled (the test server's tailable cursors can): the probe says so, and
// the tail re-opens from the last entry read instead of waiting forever.
func TestProbe_ReportsEntriesTheCursorDidNotReturn(t *testing.T) {
	src := testmongo.StartSource(t)
	client := src.Client()
	ctx := context.Background()
	coll := client.Database("app").Collection("c")
	for i := 0; i < 3; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	oplog := client.Database("local").Collection("oplog.rs")
	// The newest insert of _id 0: on a shared source (make test-real) the
	// oplog also holds earlier tests' app.c.
	first, err := oplog.FindOne(ctx, bson.D{{Key: "ns", Value: "app.c"}, {Key: "op", Value: "i"}, {Key: "o._id", Value: 0}},
		options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Raw()
	if err != nil {
		t.Fatal(err)
	}
	o := &OplogSource{Client: client, ProbeEvery: time.Nanosecond, Log: quiet()}
	var emitted int
	emit := func(bson.Raw) error { emitted++; return nil }
	unread, marker, err := o.probe(ctx, first, tsOf(first), emit)
	if err != nil || !unread || marker != nil {
		t.Fatalf("probe after the first of 3 entries: unread %v, marker %v (%v), want unread and no marker", unread, marker, err)
	}
	if emitted != 0 {
		t.Fatal("a probe that found unread entries handed a position marker on")
	}
	newest, err := oplog.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if unread, _, err := o.probe(ctx, newest, tsOf(first), emit); err != nil || unread {
		t.Fatalf("probe at the newest entry: unread %v (%v), want false", unread, err)
	}
}

// A probe that finds only entries the filter drops past the last one read
// hands the newest on as a position marker, and the reader resumes from it:
// a re-open then neither scans from the last entry kept nor meets it gone.
func TestProbe_MarkerBecomesTheResumePoint(t *testing.T) {
	src := testmongo.StartSource(t)
	client := src.Client()
	ctx := context.Background()
	kept := client.Database("app").Collection("c")
	if _, err := kept.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	oplog := client.Database("local").Collection("oplog.rs")
	last, err := oplog.FindOne(ctx, bson.D{{Key: "ns", Value: "app.c"}}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Raw()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // the filter drops these
		if _, err := client.Database("other").Collection("d").InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	newest, err := oplog.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Raw()
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Src.URI, c.Sync.DBs = src.URI, []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	o := &OplogSource{Client: client, ProbeEvery: time.Nanosecond, Filter: Filter{NS: c.Namespaces()}, Log: quiet()}
	var emitted []bson.Raw
	emit := func(r bson.Raw) error { emitted = append(emitted, r); return nil }
	unread, marker, err := o.probe(ctx, last, tsOf(last), emit)
	if err != nil || unread || marker == nil {
		t.Fatalf("probe past dropped entries only: unread %v, marker %v (%v), want a marker", unread, marker, err)
	}
	if !tsOf(marker).Equal(tsOf(newest)) || len(emitted) != 1 || !tsOf(emitted[0]).Equal(tsOf(newest)) {
		t.Fatalf("marker at %v, emitted %d; want the newest entry %v, emitted once", tsOf(marker), len(emitted), tsOf(newest))
	}
	// The tail resumes from the marker: the first entry it reads back is
	// the marker itself (accepted by the resume check), and nothing else.
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var read []bson.Raw
	got, err := o.tail(ctx2, tsOf(marker), marker, func(r bson.Raw) error {
		if len(r) > 0 {
			read = append(read, r)
		}
		if r == nil {
			cancel()
		}
		return nil
	})
	if len(read) != 0 || (got != nil && !tsOf(got).Equal(tsOf(marker))) {
		t.Fatalf("tail resumed from the marker read %d entries, ended at %v (%v); want none, at the marker", len(read), got, err)
	}
}

// On the test server a resumed cursor returns entries in insertion order,
// which concurrent writers make differ from ts order: the resume entry may
// come after newer ones. The resume check then finds it by its ts (and still
// refuses a different term or a missing entry), the newer entries are
// emitted, and the resume entry, already spooled, is not emitted again.
func TestTail_ResumeEntryAfterNewerOnes(t *testing.T) {
	src := testmongo.StartSource(t)
	ctx := context.Background()
	entry := craftedEntries(t)
	// Insertion order: a kept entry at 4, the resume entry at 2 (dropped by
	// the filter, as a probe's marker is), then a kept entry at 3.
	resume := entry(2, "other.d", 1)
	o := standaloneApp(t, src, entry(4, "app.c", 1), resume, entry(3, "app.c", 1))
	tail := func(resume bson.Raw) ([]uint32, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var read []uint32
		_, err := o.tail(ctx, tsOf(resume), resume, func(r bson.Raw) error {
			if len(r) > 0 {
				read = append(read, tsOf(r).I)
			}
			return nil
		})
		if errors.Is(err, errCursorDead) || errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
		return read, err
	}
	read, err := tail(resume)
	if err != nil || len(read) != 2 || read[0] != 4 || read[1] != 3 {
		t.Fatalf("resumed at 2: read %v (%v); want [4 3]", read, err)
	}
	if _, err := tail(entry(2, "other.d", 7)); !errors.Is(err, ErrDiverged) {
		t.Fatalf("resume entry of another term: %v; want %v", err, ErrDiverged)
	}
	// No entry at 1 while older ones exist: not a rollover, a divergence.
	if _, err := tail(entry(1, "app.c", 1)); !errors.Is(err, ErrDiverged) {
		t.Fatalf("resume entry gone: %v; want %v", err, ErrDiverged)
	}
	// On MongoDB the first entry must be the resume entry: another one
	// first is a resume entry the oplog no longer has there.
	o.Standalone = false
	if _, err := tail(resume); !errors.Is(err, ErrDiverged) {
		t.Fatalf("a replica set's cursor returning a newer entry first: %v; want %v", err, ErrDiverged)
	}
}

var errStopped = errors.New("stopped by the test")

// On the test server, entries read before the resume entry in insertion
// order come back ahead of it on a re-open: they are not emitted twice.
// And until the resume entry has come, the resume point stays at it: a
// re-open from a newer entry would miss the entries between the two that
// follow it.
func TestTail_ReopenSkipsWhatItEmitted(t *testing.T) {
	src := testmongo.StartSource(t)
	ctx := context.Background()
	crafted := craftedEntries(t)
	entry := func(i uint32) bson.Raw { return crafted(i, "app.c", 1) }
	// Insertion order 15, 14, 10, 12, then 8 and 9.
	var inserted []bson.Raw
	for _, i := range []uint32{15, 14, 10, 12, 8, 9} {
		inserted = append(inserted, entry(i))
	}
	o := standaloneApp(t, src, inserted...)
	// tail reads from resume; stopAfter > 0 fails the emit of the entry
	// after that many, as a failed append stops the tail.
	tail := func(resume bson.Raw, stopAfter int) (read []uint32, last bson.Raw) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		last, err := o.tail(ctx, tsOf(resume), resume, func(r bson.Raw) error {
			if len(r) > 0 {
				if stopAfter > 0 && len(read) == stopAfter {
					return errStopped
				}
				read = append(read, tsOf(r).I)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errCursorDead) && !errors.Is(err, errStopped) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("tail from %d: %v", tsOf(resume).I, err)
		}
		return read, last
	}
	// From 10 (spooled): 15 comes first, then the tail stops before 10
	// came back: the resume point stays at 10, not 15 (from 15, 14 and 12
	// would be missed).
	read, last := tail(entry(10), 1)
	if len(read) != 1 || read[0] != 15 || tsOf(last).I != 10 {
		t.Fatalf("from 10, stopped after one: read %v, resume at %d; want [15], 10", read, tsOf(last).I)
	}
	// Again from 10: 15 is not emitted twice. 8 and 9 are older than 10,
	// below the re-open's bound (spooled before 10, on the test server).
	read, last = tail(entry(10), 0)
	if len(read) != 2 || read[0] != 14 || read[1] != 12 || tsOf(last).I != 12 {
		t.Fatalf("from 10 again: read %v, last %d; want [14 12], 12", read, tsOf(last).I)
	}
	// From 12, as a later re-open would: 15 and 14 were emitted already.
	if read, _ = tail(last, 0); len(read) != 0 {
		t.Fatalf("from 12: read %v; want nothing (15 and 14 were emitted)", read)
	}
}

// craftedEntries makes insert entries at ts (now + 1000 s, i): newer than
// every real entry of the test server.
func craftedEntries(t *testing.T) func(i uint32, ns string, term int64) bson.Raw {
	base := uint32(time.Now().Unix()) + 1000
	return func(i uint32, ns string, term int64) bson.Raw {
		raw, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: base, I: i}}, {Key: "t", Value: term},
			{Key: "op", Value: "i"}, {Key: "ns", Value: ns}, {Key: "o", Value: bson.D{{Key: "_id", Value: int32(i)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
}

// standaloneApp inserts entries into src's oplog in the order given and
// returns a test-server source that keeps database app.
func standaloneApp(t *testing.T, src *testmongo.Server, entries ...bson.Raw) *OplogSource {
	src.RequireTestServer(t, "inserts crafted entries into local.oplog.rs, which a replica set forbids")
	client := src.Client()
	for _, e := range entries {
		if _, err := client.Database("local").Collection("oplog.rs").InsertOne(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	c := config.Default()
	c.Src.URI, c.Sync.DBs = src.URI, []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	return &OplogSource{Client: client, Filter: Filter{NS: c.Namespaces()}, Log: quiet(), Standalone: true}
}
