package pipeline

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
)

// The applier's translator knows whether it replays a replica set of its
// own, whose fromMigrate writes (cloneCollectionAsCapped's copies) are its
// own and applied, or one shard (config.ForShard), whose are a chunk
// migration's and skipped.
func TestTranslator_ReplicaSetOrShard(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if tr := translator(c, nil, nil, nil, ApplyOptions{}); !tr.ReplicaSet {
		t.Error("a replica set's translator: ReplicaSet false, want true")
	}
	sh := c.ForShard(config.Shard{Name: "sh0", Mongo: config.Mongo{URI: "mongodb://h:2/"}})
	if tr := translator(sh, nil, nil, nil, ApplyOptions{}); tr.ReplicaSet {
		t.Error("shard sh0's translator: ReplicaSet true, want false")
	}
}
