package reader

import (
	"context"
	"testing"
	"time"

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
	unread, err := o.probe(ctx, first, tsOf(first), emit)
	if err != nil || !unread {
		t.Fatalf("probe after the first of 3 entries: unread %v (%v), want true", unread, err)
	}
	if emitted != 0 {
		t.Fatal("a probe that found unread entries handed a position marker on")
	}
	newest, err := oplog.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if unread, err := o.probe(ctx, newest, tsOf(first), emit); err != nil || unread {
		t.Fatalf("probe at the newest entry: unread %v (%v), want false", unread, err)
	}
}
