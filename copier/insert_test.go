package copier

import (
	"context"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A resumed range re-inserts documents already copied: against a real
// server, the raw insert command's duplicate-key errors are "already there",
// and the other documents of the batch still arrive.
func TestInsert_ResumedBatchKeepsGoing(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx := context.Background()
	coll := client.Database("shop").Collection("orders")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "v", Value: "old"}}); err != nil {
		t.Fatal(err)
	}
	var b wirecmd.Builder
	b.Begin("insert", "orders", "documents", false)
	for i := 1; i <= 3; i++ {
		doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "new"}})
		b.Insert(doc)
	}
	c := &Copier{Dst: client, Log: testlog.Quiet()}
	if err := c.insert(ctx, ctx, &collection{dstDB: "shop", dstNS: "shop.orders"}, b.End(nil)); err != nil {
		t.Fatalf("a batch with an already-copied document failed: %v", err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 3 {
		t.Fatalf("%d documents (%v), want 3", n, err)
	}
	// A different write error is not swallowed.
	var bad wirecmd.Builder
	bad.Begin("insert", "orders", "documents", false)
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: bson.A{1}}})
	bad.Insert(doc)
	if err := c.insert(ctx, ctx, &collection{dstDB: "shop", dstNS: "shop.orders"}, bad.End(nil)); err == nil {
		t.Fatal("an array _id was accepted as a duplicate")
	}
}
