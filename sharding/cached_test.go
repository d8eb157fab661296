package sharding

import (
	"context"
	"reflect"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// config.cache.collections as a shard primary keeps it ({_id: ns, epoch,
// key, unique, uuid}; 8.0 adds tracked unsharded collections with
// unsplittable: true): mongodb/mongo src/mongo/s/catalog/type_collection.idl
// and src/mongo/db/namespace_string_reserved.def.h.
func TestShardedOnShard(t *testing.T) {
	s := testmongo.StartSource(t)
	if s.Real {
		t.Skip("writes config.cache.collections: test servers only")
	}
	ctx := context.Background()
	none, err := ShardedOnShard(ctx, s.Client(), (&config.Config{}).Namespaces())
	if err != nil || len(none) != 0 {
		t.Fatalf("a server without the cache: %v %v", none, err)
	}
	if _, err := s.Client().Database("config").Collection("cache.collections").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "blog.posts"}, {Key: "epoch", Value: bson.NewObjectID()}, {Key: "key", Value: bson.D{{Key: "_id", Value: "hashed"}}}, {Key: "unique", Value: false}},
		bson.D{{Key: "_id", Value: "blog.tracked"}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "unsplittable", Value: true}},
		bson.D{{Key: "_id", Value: "shop.orders"}, {Key: "key", Value: bson.D{{Key: "sku", Value: 1}}}},
		bson.D{{Key: "_id", Value: "config.system.sessions"}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}},
	}); err != nil {
		t.Fatal(err)
	}
	all, err := ShardedOnShard(ctx, s.Client(), (&config.Config{}).Namespaces())
	if want := []string{"blog.posts", "shop.orders"}; err != nil || !reflect.DeepEqual(all, want) {
		t.Fatalf("every database selected: %v (%v), want %v", all, err, want)
	}
	blog := (&config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "blog"}}}}).Namespaces()
	got, err := ShardedOnShard(ctx, s.Client(), blog)
	if want := []string{"blog.posts"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("blog selected: %v (%v), want %v", got, err, want)
	}
}
