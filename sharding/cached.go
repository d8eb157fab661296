package sharding

import (
	"context"
	"fmt"
	"sort"

	"github.com/mongo-sync/mongo-sync/config"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ShardedOnShard lists the selected collections that a shard's own routing
// cache says are sharded: config.cache.collections on a shard's primary,
// {_id: ns, key, ...} (mongodb/mongo src/mongo/db/namespace_string_reserved.def.h,
// kShardConfigCollectionsNamespace). 8.0's tracked unsharded collections
// (unsplittable: true) are left out. Read from the shards alone, such a
// collection's orphaned documents look owned: a chunk's stale copy on a
// donor would win over the owner's document, and the range deleter's
// deletes (fromMigrate) are skipped. A server without the collection (the
// test server, a replica set) lists none.
func ShardedOnShard(ctx context.Context, shard *mongo.Client, ns *config.Namespaces) ([]string, error) {
	cur, err := shard.Database("config").Collection("cache.collections").Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("read config.cache.collections: %w", err)
	}
	defer cur.Close(context.Background())
	var out []string
	for cur.Next(ctx) {
		id, _ := cur.Current.Lookup("_id").StringValueOK()
		if u, ok := cur.Current.Lookup("unsplittable").BooleanOK(); ok && u {
			continue
		}
		if db, coll := config.SplitNS(id); id != "" && ns.Selected(db, coll) {
			out = append(out, id)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read config.cache.collections: %w", err)
	}
	sort.Strings(out)
	return out, nil
}
