package exec

import (
	"context"
	"sync"
	"testing"

	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// fakeConfig plays a mongos's config.collections: what the shard keys'
// Load reads, changed by the test as an applier or an operator would shard
// a destination collection.
type fakeConfig struct {
	mu    sync.Mutex
	colls []sharding.Collection
	loads int
}

func (f *fakeConfig) load(context.Context) ([]sharding.Collection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	return append([]sharding.Collection(nil), f.colls...), nil
}

func (f *fakeConfig) shard(ns string, key bson.D) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.colls = append(f.colls, sharding.Collection{NS: ns, Key: key})
}

// replaceOp is a replacement of {_id: id, k: k} in db.c.
func replaceOp(t *testing.T, seq uint64, id, k int32) Op {
	doc := bson.Raw(bsontest.MustMarshal(t, bson.D{{Key: "_id", Value: id}, {Key: "k", Value: k}}))
	return Op{Seq: seq, NS: "db.c", Kind: KindReplace, ID: doc.Lookup("_id"), Doc: doc}
}

// lastQuery is the q of the last update statement sent.
func lastQuery(t *testing.T, sent func() []bson.Raw) bson.Raw {
	t.Helper()
	cmds := sent()
	if len(cmds) == 0 {
		t.Fatal("no update sent")
	}
	stmts, _ := cmds[len(cmds)-1].Lookup("updates").ArrayOK()
	vals, _ := stmts.Values()
	q, _ := vals[len(vals)-1].Document().Lookup("q").DocumentOK()
	return bson.Raw(q)
}

// Shard a's applier shards db.c on the destination (sync.shard_collections
// replaying the shardCollection no-op of the shard that logged it): shard
// b's applier, which read the keys before, must send its next statements
// with the key, as mongos requires, without waiting for a barrier of its
// own. The keys are one ShardKeys per sync (ShardGate.ShareKeys).
func TestShardKeys_SharedAcrossShards(t *testing.T) {
	dst := testmongo.StartDest(t)
	client, sent := dst.Recording("update")
	cfg := &fakeConfig{}
	cl := gate.NewCluster(quietLog())
	ga, gb := cl.Shard("a", nil), cl.Shard("b", nil)
	xa := &Executor{Client: client, Workers: 1, BulkSize: 10, Log: quietLog(), Keys: ga.ShareKeys(&sharding.ShardKeys{Load: cfg.load})}
	xb := &Executor{Client: client, Workers: 1, BulkSize: 10, Log: quietLog(), Keys: gb.ShareKeys(&sharding.ShardKeys{Load: cfg.load})}
	ctx := context.Background()
	if err := xb.Apply(ctx, []Op{replaceOp(t, 1, 1, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := lastQuery(t, sent).LookupErr("k"); err == nil {
		t.Fatal("db.c is not sharded yet, and b's statement carries k")
	}
	shard := Op{Seq: 2, NS: "db.c", Desc: "shardCollection", Cmd: func(context.Context, *mongo.Client) error {
		cfg.shard("db.c", bson.D{{Key: "k", Value: 1}})
		return nil
	}}
	if err := xa.Apply(ctx, []Op{shard}); err != nil {
		t.Fatal(err)
	}
	if err := xb.Apply(ctx, []Op{replaceOp(t, 3, 1, 6)}); err != nil {
		t.Fatal(err)
	}
	if _, err := lastQuery(t, sent).LookupErr("k"); err != nil {
		t.Errorf("after shard a's applier sharded db.c on k, b's statement is %s: without k, mongos refuses it", lastQuery(t, sent))
	}
}

// An operator shards db.c on the destination while the applier runs, and
// no entry says so: mongos answers the applier's statement by _id with
// ShardKeyNotFound (61, error_codes.yml). The applier reads the keys
// again and sends the run with the key.
func TestShardKeys_RereadOnShardKeyNotFound(t *testing.T) {
	dst := testmongo.StartDest(t)
	client, sent := dst.Recording("update")
	cfg := &fakeConfig{}
	x := &Executor{Client: client, Workers: 1, BulkSize: 10, Log: quietLog(), Keys: &sharding.ShardKeys{Load: cfg.load}}
	ctx := context.Background()
	if err := x.Apply(ctx, []Op{replaceOp(t, 1, 1, 5)}); err != nil {
		t.Fatal(err)
	}
	cfg.shard("db.c", bson.D{{Key: "k", Value: 1}}) // the operator's shardCollection
	refused := 0
	// The test server is no mongos: the seam answers a statement by _id
	// as mongos does for a collection sharded on k.
	x.plainSeam = func(ctx context.Context, b *wirecmd.Builder, ops []Op) error {
		refused++
		return &EntryError{Seq: ops[0].Seq, NS: ops[0].NS, Err: mongo.WriteException{WriteErrors: mongo.WriteErrors{{Index: 0, Code: 61,
			Message: "Failed to target upsert by query :: could not extract exact shard key"}}}}
	}
	if err := x.Apply(ctx, []Op{replaceOp(t, 2, 1, 6)}); err != nil {
		t.Fatalf("after ShardKeyNotFound: %v", err)
	}
	if refused != 1 {
		t.Errorf("%d statements by _id refused, want 1", refused)
	}
	if _, err := lastQuery(t, sent).LookupErr("k"); err != nil {
		t.Errorf("the run sent again is %s, without the key", lastQuery(t, sent))
	}
}

// The no-op a source shard logs when it shards a collection makes every
// shard's applier read the keys again at its next write.
func TestShardKeys_ShardCollectionNoopRefreshes(t *testing.T) {
	cfg := &fakeConfig{}
	cl := gate.NewCluster(quietLog())
	g := cl.Shard("a", nil)
	keys := g.ShareKeys(&sharding.ShardKeys{Load: cfg.load})
	if _, err := keys.Of(context.Background(), "db.c"); err != nil {
		t.Fatal(err)
	}
	noop := bson.Raw(bsontest.MustMarshal(t, bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "op", Value: "n"}, {Key: "ns", Value: "db.c"},
		{Key: "o", Value: bson.D{{Key: "msg", Value: bson.D{{Key: "shardCollection", Value: "db.c"}}}}},
		{Key: "o2", Value: bson.D{{Key: "shardCollection", Value: "db.c"}, {Key: "shardKey", Value: bson.D{{Key: "k", Value: 1}}}}}}))
	if n, err := g.Admit(context.Background(), spoolEntries(noop)); n != 1 || err != nil {
		t.Fatalf("Admit = %d, %v; want the no-op admitted at once", n, err)
	}
	if _, err := keys.Of(context.Background(), "db.c"); err != nil {
		t.Fatal(err)
	}
	if cfg.loads != 2 {
		t.Errorf("keys read %d times, want 2: the shardCollection no-op did not refresh them", cfg.loads)
	}
}

// entryTS is an entry's ts.
func entryTS(raw bson.Raw) bson.Timestamp {
	t, i, _ := raw.Lookup("ts").TimestampOK()
	return bson.Timestamp{T: t, I: i}
}

func spoolEntries(raws ...bson.Raw) []spool.Entry {
	out := make([]spool.Entry, len(raws))
	for i, r := range raws {
		out[i] = spool.Entry{Seq: uint64(i + 1), TS: entryTS(r), Raw: r}
	}
	return out
}
