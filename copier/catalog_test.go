package copier

import (
	"context"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The copy records each source collection's UUID with the destination
// namespace that holds it: the applier routes the catch-up window's entries
// by that UUID, so writes logged before a rename follow the collection.
func TestCopy_RecordsCollectionUUIDs(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	insertDocs(t, src.Database("shop").Collection("customers"), bson.D{{Key: "_id", Value: 1}})
	specs, err := src.Database("shop").ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, s := range specs {
		if s.UUID == nil {
			t.Skipf("the source reports no collection UUID for %s: nothing to record", s.Name)
		}
		want[string(s.UUID.Data)] = "shop." + s.Name
	}
	c := newCopier(t, src, dst)
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.Store.Collections()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("catalog %v, want %v", got, want)
	}
	for u, ns := range want {
		if got[u] != ns {
			t.Errorf("UUID %x recorded at %q, want %q", u, got[u], ns)
		}
	}
}

// A unique index whose build meets duplicates the copy read at different
// times is built non-unique and recorded for the applier, which makes it
// unique once it has passed the copy's end.
func TestCopy_UniqueIndexOverDuplicatesIsDeferred(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	// What the copy read: 1 before it gave x up, 2 after it took it.
	insertDocs(t, dst.Database("shop").Collection("users"),
		bson.D{{Key: "_id", Value: 1}, {Key: "email", Value: "x"}}, bson.D{{Key: "_id", Value: 2}, {Key: "email", Value: "x"}})
	c := newCopier(t, src, dst)
	coll := &collection{dstNS: "shop.users", dstDB: "shop", dstColl: "users"}
	specs := bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "email", Value: 1}}}, {Key: "name", Value: "email_1"}, {Key: "unique", Value: true}}}
	err := c.Dst.Database("shop").RunCommand(ctx, bson.D{{Key: "createIndexes", Value: "users"}, {Key: "indexes", Value: specs}}).Err()
	if !isDupKey(err) {
		t.Fatalf("building the unique index over duplicates: %v, want a duplicate key error", err)
	}
	if err := c.deferUniqueIndexes(ctx, coll, specs, err); err != nil {
		t.Fatal(err)
	}
	items, err := c.Store.DeferredWork()
	if err != nil || len(items) != 1 || items[0].Index != "email_1" || items[0].NS != "shop.users" {
		t.Fatalf("deferred work %+v (%v), want the unique build of email_1 on shop.users", items, err)
	}
	idx, err := dst.Database("shop").Collection("users").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	built := false
	for _, s := range idx {
		if s.Name == "email_1" {
			built = s.Unique == nil || !*s.Unique
		}
	}
	if !built {
		t.Fatalf("indexes %+v: want email_1 built non-unique meanwhile", idx)
	}
}
