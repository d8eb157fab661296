package testsync

import (
	"context"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The comparison the tests judge end states by sees what it claims to: an
// index missing, another key order, another option, a collection on one
// side only.
func TestSchemaDiff(t *testing.T) {
	s := testmongo.StartSource(t)
	ctx := context.Background()
	c := s.Client()
	index := func(db string, keys bson.D, o *options.IndexOptionsBuilder) {
		if _, err := c.Database(db).Collection("orders").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: o}); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(db, coll string) {
		if _, err := c.Database(db).Collection(coll).InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	diff := func(a, b string) int {
		return SchemaDiff(t, []*mongo.Client{c}, c, map[string]string{a: b}, t.Logf)
	}
	for _, db := range []string{"a", "same", "missing", "order", "unique", "extra"} {
		insert(db, "orders")
	}
	for _, db := range []string{"a", "same", "order", "unique", "extra"} {
		index(db, bson.D{{Key: "k", Value: 1}, {Key: "j", Value: -1}}, options.Index().SetName("kj"))
	}
	index("a", bson.D{{Key: "u", Value: 1}}, options.Index().SetName("u").SetUnique(true))
	index("same", bson.D{{Key: "u", Value: int64(1)}}, options.Index().SetName("u").SetUnique(true))
	index("order", bson.D{{Key: "u", Value: 1}}, options.Index().SetName("u").SetUnique(true))
	index("unique", bson.D{{Key: "u", Value: 1}}, options.Index().SetName("u"))
	index("extra", bson.D{{Key: "u", Value: 1}}, options.Index().SetName("u").SetUnique(true))
	insert("extra", "more")
	if n := diff("a", "same"); n != 0 {
		t.Errorf("the same indexes (key numbers of another type): %d differences", n)
	}
	for _, db := range []string{"missing", "unique", "extra"} {
		if n := diff("a", db); n == 0 {
			t.Errorf("a against %s: no difference found", db)
		}
	}
	if err := c.Database("order").Collection("orders").Indexes().DropOne(ctx, "kj"); err != nil {
		t.Fatal(err)
	}
	index("order", bson.D{{Key: "j", Value: -1}, {Key: "k", Value: 1}}, options.Index().SetName("kj"))
	if n := diff("a", "order"); n == 0 {
		t.Error("a compound key in another order: no difference found")
	}
}
