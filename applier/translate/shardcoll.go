package translate

import (
	"context"
	"fmt"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/sharding"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A collection sharded on the source during sync shows up, from MongoDB
// 5.0, as a no-op on the shard that is primary for its database (written
// for change streams, create_collection_coordinator in MongoDB's source):
//
//	{op: "n", ns: "<db>.<coll>", ui: <uuid>, o: {msg: {shardCollection: "<db>.<coll>"}},
//	 o2: {shardCollection: "<db>.<coll>", shardKey: {...}, unique: <bool>, ...}}
//
// 8.0 also logs shardCollectionPrepare and shardCollectionAbort phases
// first; only the final shardCollection counts. With ShardCollections the
// applier shards the mapped destination collection on the same key.

// shardCollection translates such a no-op (o2 as logged); any other no-op
// gives nothing.
func (t *Translator) shardCollection(seq uint64, ts bson.Timestamp, o2 bson.Raw) ([]exec.Op, error) {
	elems, err := o2.Elements()
	if err != nil || len(elems) == 0 || elems[0].Key() != "shardCollection" {
		return nil, nil
	}
	ns, _ := elems[0].Value().StringValueOK()
	key, ok := o2.Lookup("shardKey").DocumentOK()
	if !ok {
		return nil, fmt.Errorf("shardCollection no-op for %s without shardKey", ns)
	}
	dstNS, synced := t.target(ns)
	if !synced {
		return nil, nil
	}
	var k bson.D
	if err := bson.Unmarshal(key, &k); err != nil {
		return nil, fmt.Errorf("shardCollection no-op for %s: shardKey: %w", ns, err)
	}
	unique, _ := o2.Lookup("unique").BooleanOK()
	dstDB, _ := config.SplitNS(dstNS)
	sc := sharding.ShardCollection(dstNS, k, unique)
	enable := bson.D{{Key: "enableSharding", Value: dstDB}}
	return []exec.Op{{Seq: seq, TS: ts, NS: dstNS, Desc: sc.Desc, Cmd: func(ctx context.Context, c *mongo.Client) error {
		// Harmless where MongoDB 6.0+ no longer needs it.
		if err := c.Database("admin").RunCommand(ctx, enable).Err(); err != nil {
			return fmt.Errorf("enableSharding %s: %w", dstDB, err)
		}
		return c.Database("admin").RunCommand(ctx, sc.Cmd).Err()
	}}}, nil
}
