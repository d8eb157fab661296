package copier

import (
	"context"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// <db>.system.views holds the definitions of the database's views, which
// listCollections reports as views of their own: the copy creates those,
// and never copies system.views' documents (MongoDB 5.0+ refuses writes to
// it with InvalidNamespace, and each _id names the source database). The
// test server keeps a system.views collection like any other, as a source
// that holds views does.
func TestCopy_SystemViewsIsNotCopied(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	insertDocs(t, src.Database("shop").Collection("system.views"),
		bson.D{{Key: "_id", Value: "shop.active"}, {Key: "viewOn", Value: "orders"}, {Key: "pipeline", Value: bson.A{}}})
	c := newCopier(t, src, dst)
	sel, err := ListSelected(ctx, src, c.NS)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sel {
		if s.SrcNS == "shop.system.views" {
			t.Fatalf("ListSelected lists %s as a collection to copy", s.SrcNS)
		}
	}
	if len(sel) != 1 || sel[0].SrcNS != "shop.orders" {
		t.Fatalf("selected %+v, want shop.orders alone", sel)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	names, err := dst.Database("shop").ListCollectionNames(ctx, bson.D{{Key: "name", Value: "system.views"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Fatal("the copy wrote system.views on the destination")
	}
}

// A view is created as a view: create with its viewOn, pipeline and
// collation, in the renamed database, viewOn unchanged (a collection of the
// same database). The test server has no views, so the test reads the
// command sent.
func TestCopy_ViewIsCreatedAsAView(t *testing.T) {
	s := testmongo.StartDest(t)
	client, sent := s.Recording("create")
	cfg := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop", RenameDB: "shop2"}}}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	c := newCopier(t, nil, client)
	c.NS = cfg.Namespaces()
	opts, err := bson.Marshal(bson.D{{Key: "viewOn", Value: "orders"},
		{Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "active", Value: true}}}}}},
		{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(3)}}}})
	if err != nil {
		t.Fatal(err)
	}
	coll := &collection{srcNS: "shop.active", dstNS: "shop2.active", dstDB: "shop2", dstColl: "active", view: true, options: opts}
	c.create(context.Background(), coll) // the test server answers NotImplemented to viewOn
	cmds := sent()
	if len(cmds) != 1 {
		t.Fatalf("%d create commands sent, want 1", len(cmds))
	}
	got := cmds[0]
	if db, _ := got.Lookup("$db").StringValueOK(); db != "shop2" {
		t.Errorf("create sent to %q, want shop2", db)
	}
	if v, _ := got.Lookup("viewOn").StringValueOK(); v != "orders" || got.Lookup("pipeline").Type != bson.TypeArray || got.Lookup("collation").Type != bson.TypeEmbeddedDocument {
		t.Errorf("sent %s; want create active with viewOn orders, the pipeline and the collation", got)
	}
}
