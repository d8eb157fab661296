package reader

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The no-op that says a collection was sharded is spooled for the applier
// (sync.shard_collections); every other no-op is still skipped.
func TestFilter_ShardCollectionNoop(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	noop := func(ns, first string) bson.Raw {
		raw, _ := bson.Marshal(bson.D{{Key: "op", Value: "n"}, {Key: "ns", Value: ns},
			{Key: "o", Value: bson.D{{Key: "msg", Value: bson.D{{Key: first, Value: ns}}}}},
			{Key: "o2", Value: bson.D{{Key: first, Value: ns}, {Key: "shardKey", Value: bson.D{{Key: "k", Value: 1}}}}}})
		return raw
	}
	periodic, _ := bson.Marshal(bson.D{{Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{{Key: "msg", Value: "periodic noop"}}}})
	f := Filter{NS: c.Namespaces()}
	for _, tc := range []struct {
		name string
		raw  bson.Raw
		want Verdict
	}{
		{"sharded, selected", noop("app.orders", "shardCollection"), Spool},
		{"sharded, not selected", noop("other.orders", "shardCollection"), Skip},
		{"a prepare phase", noop("app.orders", "shardCollectionPrepare"), Skip},
		{"a periodic no-op", periodic, Skip},
	} {
		if got := f.Judge(tc.raw); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
