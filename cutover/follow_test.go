package cutover

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Read from a state file with no process running, a sync whose copy of
// namespaces added to sync.dbs has not finished is not consistent, though
// its stage is applying and its checkpoint is past the old copy_end.
func TestPosition_UnfinishedAdditionIsNotConsistent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	end := bson.Timestamp{T: 1700000000, I: 1}
	for _, err := range []error{st.SetStage(store.StageApplied), st.SetCopyEnd(end),
		st.SetCheckpoint(store.Checkpoint{Seq: 10, TS: bson.Timestamp{T: 1700000100, I: 1}}),
		st.SetBinding(store.Binding{StateID: "s", Selection: `{"dbs":{"blog":{"all":true},"shop":{"all":true}}}`, AddingFrom: `{"dbs":{"shop":{"all":true}}}`})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	f := &follower{storePath: path, spoolDir: filepath.Join(dir, "spool")}
	p, err := f.position(context.Background())
	if !errors.Is(err, errNoProcess) || p.Consistent {
		t.Fatalf("position during an unfinished addition: %+v, %v; want not consistent", p, err)
	}
	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetBinding(store.Binding{StateID: "s", Selection: `{"dbs":{"blog":{"all":true},"shop":{"all":true}}}`}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if p, err := f.position(context.Background()); !errors.Is(err, errNoProcess) || !p.Consistent {
		t.Fatalf("position once the addition is copied: %+v, %v; want consistent", p, err)
	}
}

// The position cutover waits for is the newest entry the sync's reader
// spools: on a replica set of its own that includes its fromMigrate writes
// (cloneCollectionAsCapped's copies, reader.Filter.ReplicaSet); a shard's
// follower leaves them out as its reader does.
func TestNewFollowers_FilterAsTheReader(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if fs := newFollowers(c, []*mongo.Client{nil}, nil, ""); len(fs) != 1 || !fs[0].filter.ReplicaSet {
		t.Errorf("a replica set's follower: its filter leaves out the source's fromMigrate writes")
	}
	shards := []config.Shard{{Name: "sh0", Mongo: config.Mongo{URI: "mongodb://h:2/"}}, {Name: "sh1", Mongo: config.Mongo{URI: "mongodb://h:3/"}}}
	for _, f := range newFollowers(c, []*mongo.Client{nil, nil}, shards, "") {
		if f.filter.ReplicaSet {
			t.Errorf("shard %s's follower: its filter keeps a chunk migration's writes", f.shard)
		}
	}
}
