package testsync

import (
	"context"
	"fmt"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/workload"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// PreloadShard gives one shard its part of shared collections: _ids from
// base on, so that the shards' documents are disjoint.
func PreloadShard(t *testing.T, c *mongo.Client, base, orders int) {
	t.Helper()
	ctx := context.Background()
	var docs []any
	for i := 0; i < orders; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: base + i}, {Key: "sku", Value: fmt.Sprintf("sku-%03d", i%97)}, {Key: "qty", Value: i % 9}})
	}
	for len(docs) > 0 {
		n := min(500, len(docs))
		if _, err := c.Database("shop").Collection("orders").InsertMany(ctx, docs[:n]); err != nil {
			t.Fatal(err)
		}
		docs = docs[n:]
	}
	for i := 0; i < 25; i++ {
		if _, err := c.Database("crm").Collection("contacts").InsertOne(ctx, bson.D{{Key: "_id", Value: base + i}, {Key: "name", Value: fmt.Sprint("c", i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// ShardLoad runs the hostile workload on one shard, its keys from base on;
// the returned workload can be started again after the stop.
func ShardLoad(t *testing.T, c *mongo.Client, seed uint64, base int) (*workload.Workload, func() workload.Counts) {
	t.Helper()
	ctx := context.Background()
	w := workload.New(c, workload.Options{Seed: seed, Base: base, Rate: 60})
	if err := w.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	return w, LoadStopper(t, w, seed, base)
}

func LoadStopper(t *testing.T, w *workload.Workload, seed uint64, base int) func() workload.Counts {
	stop := w.Start(context.Background())
	return func() workload.Counts {
		n := stop()
		t.Logf("hostile workload on the shard with base %d (seed %d): %s", base, seed, n)
		// A shard may be down under its load (refusals are expected
		// then), but a load that wrote nothing proves nothing.
		if n.Applied() == 0 {
			t.Errorf("hostile workload on the shard with base %d (seed %d) applied nothing: %s", base, seed, n)
		}
		return n
	}
}
