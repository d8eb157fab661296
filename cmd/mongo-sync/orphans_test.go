package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A sharded collection copied or verified from its shards alone would take
// orphaned documents for owned ones: with src.shards and
// no mongos, both refuse, naming the collection, when a shard's routing
// cache (config.cache.collections, in the shape a shard primary keeps it:
// {_id: ns, epoch, key, unique, uuid}) says it is sharded. An 8.0 tracked
// unsharded collection (unsplittable: true) is no reason to refuse.
func TestShardedSource_ShardedCollectionFromShardsRefused(t *testing.T) {
	a, b, dst := testmongo.StartSource(t), testmongo.StartSource(t), testmongo.StartDest(t)
	if a.Real || b.Real {
		t.Skip("writes a shard's config.cache.collections: test servers only")
	}
	ctx := context.Background()
	insertPosts(t, a.Client(), "blog", 10)
	insertPosts(t, b.Client(), "blog", 10)
	cache := a.Client().Database("config").Collection("cache.collections")
	if _, err := cache.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "blog.posts"}, {Key: "epoch", Value: bson.NewObjectID()}, {Key: "key", Value: bson.D{{Key: "_id", Value: "hashed"}}},
			{Key: "unique", Value: false}, {Key: "uuid", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}},
		bson.D{{Key: "_id", Value: "blog.tracked"}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "unsplittable", Value: true}},
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := testsync.ShardedConfig(t, dir, []*testmongo.Server{a, b}, dst.URI, "[sync]\ndbs = [{db = \"blog\"}]\n")
	out, err := run(t, "sync", "-f", conf)
	if err == nil || !strings.Contains(out, "sharded collections selected (blog.posts)") || !strings.Contains(out, "mongos") {
		t.Fatalf("sync of a sharded collection from its shards alone: %v\n%s", err, out)
	}
	if n := count(t, dst.Client(), "blog", "posts"); n != 0 {
		t.Fatalf("the refused sync copied %d documents", n)
	}
	out, err = run(t, "verify", "-f", conf)
	if err == nil || !strings.Contains(out, "sharded collections selected (blog.posts)") {
		t.Fatalf("verify of a sharded collection from its shards alone: %v\n%s", err, out)
	}
}
