package reader

import (
	"context"
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
	first, err := oplog.FindOne(ctx, bson.D{{Key: "ns", Value: "app.c"}}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: 1}})).Raw()
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
	last, err := oplog.FindOne(ctx, bson.D{{Key: "ns", Value: "app.c"}}).Raw()
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
