// Package sharding reads a cluster's sharding metadata (is this a mongos,
// which collections are sharded on which key) and gives a destination
// cluster the source's shard keys (enableSharding, shardCollection).
package sharding

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/internal/hello"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Collection is a sharded collection as config.collections records it.
type Collection struct {
	NS string
	// Key is the key pattern in order: {field: 1} ranged, {field:
	// "hashed"} hashed; field names may be dotted paths.
	Key    bson.D
	Unique bool
}

// Fields are the key's field paths, in order.
func (c Collection) Fields() []string {
	out := make([]string, len(c.Key))
	for i, e := range c.Key {
		out[i] = e.Key
	}
	return out
}

// IDOnly reports a key on _id alone (ranged or hashed): a statement that
// names the _id already carries the whole key.
func (c Collection) IDOnly() bool {
	return len(c.Key) == 1 && c.Key[0].Key == "_id"
}

// ErrNotMongos is a sharding operation asked of a deployment that is not
// a mongos.
var ErrNotMongos = errors.New("not a mongos")

// IsMongos reports whether c is connected to a mongos: its hello (or
// isMaster, where hello is unknown) says msg: "isdbgrid". An error of
// hello is its own: another command would only meet it again, or hide it.
func IsMongos(ctx context.Context, c *mongo.Client) (bool, error) {
	var reply struct {
		Msg string `bson:"msg"`
	}
	raw, _, err := hello.Run(ctx, c)
	if err != nil {
		return false, fmt.Errorf("hello: %w", err)
	}
	if err := bson.Unmarshal(raw, &reply); err != nil {
		return false, fmt.Errorf("hello reply: %w", err)
	}
	return reply.Msg == "isdbgrid", nil
}

// configEntry is one document of config.collections.
type configEntry struct {
	ID      string `bson:"_id"`
	Key     bson.D `bson:"key"`
	Unique  bool   `bson:"unique"`
	Dropped bool   `bson:"dropped"`
	// Unsplittable marks 8.0's tracked unsharded collections: listed in
	// config.collections with key {_id: 1}, but not sharded
	// (mongodb/mongo src/mongo/s/catalog/type_collection.idl).
	Unsplittable bool `bson:"unsplittable"`
}

// Collections reads every sharded collection from config.collections,
// leaving out dropped ones (servers before 5.0 keep them with dropped:
// true), 8.0's tracked unsharded ones (unsplittable: true: sharding them
// on the destination would change what they are) and the cluster's own
// (config.*, admin.*, local.*).
func Collections(ctx context.Context, c *mongo.Client) ([]Collection, error) {
	coll := c.Database("config", options.Database().SetReadPreference(readpref.Primary())).Collection("collections")
	cur, err := coll.Find(ctx, bson.D{{Key: "dropped", Value: bson.D{{Key: "$ne", Value: true}}}})
	if err != nil {
		return nil, fmt.Errorf("read config.collections: %w", err)
	}
	defer cur.Close(ctx)
	var out []Collection
	for cur.Next(ctx) {
		var e configEntry
		if err := cur.Decode(&e); err != nil {
			return nil, fmt.Errorf("read config.collections: %w", err)
		}
		if c, ok := e.collection(); ok {
			out = append(out, c)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read config.collections: %w", err)
	}
	return out, nil
}

func (e configEntry) collection() (Collection, bool) {
	db, _, _ := strings.Cut(e.ID, ".")
	if e.Dropped || e.Unsplittable || len(e.Key) == 0 || db == "config" || db == "admin" || db == "local" {
		return Collection{}, false
	}
	return Collection{NS: e.ID, Key: e.Key, Unique: e.Unique}, true
}
