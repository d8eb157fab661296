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

// config.collections on 8.0 also lists tracked unsharded collections
// ({_id: ns, key: {_id: 1}, unsplittable: true}: mongodb/mongo
// src/mongo/s/catalog/type_collection.idl). Listed as sharded, they would
// be sharded on the destination by sync.shard_collections.
func TestCollections_LeavesOutUnsplittable(t *testing.T) {
	s := testmongo.StartSource(t)
	if s.Real {
		t.Skip("writes config.collections: test servers only")
	}
	ctx := context.Background()
	if _, err := s.Client().Database("config").Collection("collections").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "blog.posts"}, {Key: "lastmodEpoch", Value: bson.NewObjectID()}, {Key: "key", Value: bson.D{{Key: "_id", Value: "hashed"}}}, {Key: "unique", Value: false}},
		bson.D{{Key: "_id", Value: "blog.tracked"}, {Key: "lastmodEpoch", Value: bson.NewObjectID()}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "unique", Value: false}, {Key: "unsplittable", Value: true}},
	}); err != nil {
		t.Fatal(err)
	}
	colls, err := Collections(ctx, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range colls {
		names = append(names, c.NS)
	}
	if want := []string{"blog.posts"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("sharded collections: %v, want %v", names, want)
	}
}
