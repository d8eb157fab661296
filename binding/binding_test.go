package binding

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The replica set configuration as replSetGetConfig returns it under
// "config" and local.system.replset holds it (mongodb/mongo
// src/mongo/db/repl/repl_set_config.idl: _id, version, term, members,
// settings.replicaSetId; the manual's replSetGetConfig output example).
func TestFromReplsetConfig_MongodShape(t *testing.T) {
	id := bson.NewObjectID()
	doc, err := bson.Marshal(bson.D{
		{Key: "_id", Value: "rs0"}, {Key: "version", Value: int32(3)}, {Key: "term", Value: int64(7)},
		{Key: "protocolVersion", Value: int64(1)}, {Key: "writeConcernMajorityJournalDefault", Value: true},
		{Key: "members", Value: bson.A{bson.D{{Key: "_id", Value: int32(0)}, {Key: "host", Value: "m1.example.net:27017"}}}},
		{Key: "settings", Value: bson.D{{Key: "chainingAllowed", Value: true}, {Key: "heartbeatIntervalMillis", Value: int32(2000)},
			{Key: "replicaSetId", Value: id}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := fromReplsetConfig(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc})
	if !ok || d.ID != "rs:rs0/"+id.Hex() || d.Weak != "" {
		t.Fatalf("identity %+v (%v), want rs:rs0/%s", d, ok, id.Hex())
	}
	noID, _ := bson.Marshal(bson.D{{Key: "_id", Value: "rs0"}, {Key: "settings", Value: bson.D{}}})
	if _, ok := fromReplsetConfig(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: noID}); ok {
		t.Fatal("a configuration without replicaSetId gave a strong identity")
	}
}

// Every test server is a replica set named rs0 with an id of its own: the
// identity tells two apart, and one server reached by two host strings is
// one deployment.
func TestSource_TellsSameNamedSetsApart(t *testing.T) {
	ctx := context.Background()
	a, b := testmongo.StartSource(t), testmongo.StartSource(t)
	if a.Real || b.Real {
		t.Skip("needs two test servers: MONGO_SYNC_TEST_SRC names one deployment")
	}
	ida, err := Source(ctx, a.Client())
	if err != nil {
		t.Fatal(err)
	}
	idb, err := Source(ctx, b.Client())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ida.ID, "rs:rs0/") || ida.Weak != "" || ida.ID == idb.ID {
		t.Fatalf("identities %q and %q: want two strong, different rs:rs0/... ids", ida.ID, idb.ID)
	}
	m, err := Marker(ctx, a.Client())
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Marker(ctx, a.Client()); err != nil || again != m {
		t.Fatalf("marker changed on a second contact: %q then %q (%v)", m, again, err)
	}
	same, known, err := SameDeployment(ctx, a.Client(), m, ida, ida)
	if err != nil || !known || !same {
		t.Fatalf("a server and itself: same %v known %v (%v)", same, known, err)
	}
	same, known, err = SameDeployment(ctx, b.Client(), m, idb, ida)
	if err != nil || !known || same {
		t.Fatalf("two servers: same %v known %v (%v)", same, known, err)
	}
}

// A state file and a spool written before identities were recorded get
// them at their first start; a later start against another destination is
// refused, and so is a spool of another state file.
func TestCheck_RecordsThenRefuses(t *testing.T) {
	ctx := context.Background()
	src, dst, other := testmongo.StartSource(t), testmongo.StartDest(t), testmongo.StartDest(t)
	if src.Real || dst.Real {
		t.Skip("needs its own test servers (a third destination)")
	}
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	w, err := spool.OpenWriter(spoolDir, spool.Options{Source: "rs:rs0"}) // a spool of the old identity form
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{}}})
	if _, _, err := w.Append(ctx, []bson.Raw{entry}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetCheckpoint(store.Checkpoint{Seq: 1, TS: bson.Timestamp{T: 1, I: 1}}); err != nil {
		t.Fatal(err)
	}
	ns := (&config.Config{}).Namespaces()
	c := &Check{Src: src.Client(), SrcName: "src", Dst: dst.Client(), DstName: "dst", NS: ns, Store: st,
		StatePath: "state.db", SpoolDir: spoolDir, OwnsSpool: true, Log: testlog.Quiet()}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("first start of an old state file and spool: %v", err)
	}
	b, ok, err := st.Binding()
	sid, sok, serr := spool.ReadIdentity(spoolDir)
	if err != nil || serr != nil || !ok || !sok || b.SpoolID != sid.ID || b.Dest == "" || !strings.HasPrefix(b.Source, "rs:rs0/") || b.Selection == "" {
		t.Fatalf("not recorded: binding %+v (%v, %v), spool %+v (%v, %v)", b, ok, err, sid, sok, serr)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("second start, nothing changed: %v", err)
	}
	c.Dst, c.DstName = other.Client(), "other"
	if err := c.Run(ctx); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not into other") {
		t.Fatalf("another destination: %v", err)
	}
	c.Dst, c.DstName = dst.Client(), "dst"
	if err := spool.WriteIdentity(spoolDir, spool.Identity{ID: "another", StateID: "another"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "it was replaced") {
		t.Fatalf("a spool of another state file: %v", err)
	}
}

// A lost spool restarts just after the checkpoint's entry, numbered after
// it: the checkpoint's own entry (often a transaction's commit, which alone
// is a transaction without its start) never comes back. With nothing
// applied it restarts where the copy's spool began (before T0 when a
// transaction was open at T0).
func TestCheck_RefillPoint(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &Check{Store: st}
	if _, _, needed, err := c.refillPoint(); err != nil || needed {
		t.Fatalf("a fresh state needs a refill: %v %v", needed, err)
	}
	st.SetT0(bson.Timestamp{T: 50, I: 1})
	st.SetSpoolFrom(bson.Timestamp{T: 40, I: 2})
	if start, first, needed, err := c.refillPoint(); err != nil || !needed || start != (bson.Timestamp{T: 40, I: 2}) || first != 1 {
		t.Fatalf("nothing applied: from %v seq %d (%v, %v), want the spool's start 40,2 at seq 1", start, first, needed, err)
	}
	st.SetCheckpoint(store.Checkpoint{Seq: 7, TS: bson.Timestamp{T: 60, I: 3}})
	if start, first, _, _ := c.refillPoint(); start != (bson.Timestamp{T: 60, I: 4}) || first != 8 {
		t.Fatalf("after a checkpoint: from %v seq %d, want 60,4 at seq 8", start, first)
	}
	st.SetCheckpoint(store.Checkpoint{Seq: 9, TS: bson.Timestamp{T: 61, I: ^uint32(0)}})
	if start, _, _, _ := c.refillPoint(); start != (bson.Timestamp{T: 62}) {
		t.Fatalf("after the last increment of a second: %v", start)
	}
}

// An addition to an incremental sync that has applied nothing yet (no
// checkpoint, no copy, a spool of entries) is refused: its spool could not
// be refilled, and moving it aside would lose them.
func TestCheck_AdditionWithNoPositionRefused(t *testing.T) {
	ctx := context.Background()
	c, spoolDir := shopCheck(t)
	c.AddOnline = true
	if err := c.Run(ctx); err != nil {
		t.Fatalf("first start: %v", err)
	}
	w, err := spool.OpenWriter(spoolDir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{}}})
	if _, _, err := w.Append(ctx, []bson.Raw{entry}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	both := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop"}, {DB: "blog"}}}}
	if err := both.Finish(); err != nil {
		t.Fatal(err)
	}
	c.NS = both.Namespaces()
	if err := c.Run(ctx); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no position to refill the spool from") {
		t.Fatalf("an addition with nothing applied: %v", err)
	}
	if empty, err := spool.Empty(spoolDir); err != nil || empty {
		t.Fatalf("the spool after the refusal: empty %v (%v); want its entry kept", empty, err)
	}
}

// A shard read directly (--shard, src.shards) and, as destination, its own
// cluster: the marker lies on the reserved database's primary shard, which
// need not be the shard read, so looking for it through the shard finds
// nothing. Each shard's identity (admin.system.version {_id:
// "shardIdentity", clusterId}, mongodb/mongo src/mongo/s/shard_identity.idl)
// names the cluster: two test servers playing two shards of one cluster are
// refused as one deployment when the sync would write into what it reads;
// shards of two clusters are not. A shard named as a replica set source
// (no src.shards, no --shard) is refused first.
func TestCheck_ShardOfTheDestinationsClusterRefused(t *testing.T) {
	ctx := context.Background()
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	src.RequireTestServer(t, "writes a shard identity into admin.system.version, which mongod owns")
	dst.RequireTestServer(t, "writes a shard identity into admin.system.version, which mongod owns")
	identity := func(s *testmongo.Server, name string, cluster bson.ObjectID) {
		t.Helper()
		c := s.Client().Database("admin").Collection("system.version")
		if _, err := c.DeleteMany(ctx, bson.D{{Key: "_id", Value: "shardIdentity"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "shardIdentity"}, {Key: "shardName", Value: name},
			{Key: "clusterId", Value: cluster}, {Key: "configsvrConnectionString", Value: "cfg/c1.example.net:27019"}}); err != nil {
			t.Fatal(err)
		}
	}
	cluster := bson.NewObjectID()
	identity(src, "rs1", cluster)
	identity(dst, "rs0", cluster)
	shop := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop"}}}}
	if err := shop.Finish(); err != nil {
		t.Fatal(err)
	}
	c := &Check{Src: src.Client(), SrcName: "src", Dst: dst.Client(), DstName: "dst", NS: shop.Namespaces(),
		SpoolDir: filepath.Join(t.TempDir(), "spool"), OwnsSpool: true, Log: testlog.Quiet()}
	if got, known, err := ShardCluster(ctx, src.Client()); got != "cluster:"+cluster.Hex() || !known || err != nil {
		t.Fatalf("ShardCluster = %q (%v, %v), want cluster:%s", got, known, err, cluster.Hex())
	}
	// Read as a replica set of its own, a shard is refused: its chunk
	// migrations' writes would be applied (reader.Filter).
	if err := c.Run(ctx); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "is a shard of sharded cluster "+cluster.Hex()) {
		t.Fatalf("a shard as a replica set source: %v; want refused, naming its cluster", err)
	}
	c.Shard = true
	if err := c.Run(ctx); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "one deployment") {
		t.Fatalf("a shard synced into its own cluster: %v; want refused as one deployment", err)
	}
	identity(dst, "rs0", bson.NewObjectID())
	if err := c.Run(ctx); err != nil {
		t.Fatalf("shards of two clusters: %v", err)
	}
}

// A state file older than its spool (put back from a backup after
// retention removed the segments it needs): the command that owns the
// spool moves it aside and refills it from the state's checkpoint, numbered
// on from it; a command that does not own it (the applier) refuses, naming
// the seqs and the position to refill from. Before, the first read of the
// spool stopped on "seq no longer in the spool" with nothing to say how to
// go on.
func TestCheck_RestoredStateOlderThanItsSpool(t *testing.T) {
	ctx := context.Background()
	c, spoolDir := shopCheck(t)
	st := c.Store
	if err := c.Run(ctx); err != nil {
		t.Fatalf("first start: %v", err)
	}
	// 60 entries in one-entry segments; the sync applies them and
	// retention removes all but those from seq 50.
	w, err := spool.OpenWriter(spoolDir, spool.Options{SegmentMaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 60; i++ {
		e, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 100, I: uint32(i)}}, {Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{}}})
		if _, _, err := w.Append(ctx, []bson.Raw{e}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if _, err := spool.Remove(spoolDir, 50, 0); err != nil {
		t.Fatal(err)
	}
	// The state file as a backup left it: checkpoint at seq 10, after a
	// copy that ended at 100,5.
	if err := st.SetCheckpoint(store.Checkpoint{Seq: 10, TS: bson.Timestamp{T: 100, I: 10}}); err != nil {
		t.Fatal(err)
	}
	st.SetStage(store.StageApplied)
	st.SetCopyEnd(bson.Timestamp{T: 100, I: 5})

	applier := *c
	applier.Src, applier.OwnsSpool = nil, false
	if err := applier.Run(ctx); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "needs it from seq 11") || !strings.Contains(err.Error(), "100,11") {
		t.Fatalf("the applier on a spool that lost what its state needs: %v; want refused, naming seq 11 and the position 100,11", err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("sync on a spool that lost what its state needs: %v", err)
	}
	sid, ok, err := spool.ReadIdentity(spoolDir)
	if err != nil || !ok || sid.FirstSeq != 11 {
		t.Fatalf("the refilled spool's identity %+v (%v, %v); want it numbered from seq 11", sid, ok, err)
	}
	if start, _, err := spool.Start(spoolDir); err != nil || start != (bson.Timestamp{T: 100, I: 11}) {
		t.Fatalf("the refilled spool starts at %v (%v), want 100,11: just after the checkpoint", start, err)
	}
	aside, _ := filepath.Glob(spoolDir + ".before-refill-*")
	if len(aside) != 1 {
		t.Fatalf("the old spool kept aside: %v", aside)
	}
	// The entries up to the old spool's newest may have been applied: the
	// replay window reaches them.
	if end := st.CopyEnd(); end != (bson.Timestamp{T: 100, I: 60}) {
		t.Fatalf("copy end %v after the refill, want the old spool's newest entry 100,60", end)
	}
}

// shopCheck is a Check of a sync of database shop between two test
// servers, with its state file and (not yet made) spool in a directory of
// the test's own, the spool owned.
func shopCheck(t *testing.T) (c *Check, spoolDir string) {
	t.Helper()
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	shop := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop"}}}}
	if err := shop.Finish(); err != nil {
		t.Fatal(err)
	}
	spoolDir = filepath.Join(dir, "spool")
	return &Check{Src: src.Client(), SrcName: "src", Dst: dst.Client(), DstName: "dst", NS: shop.Namespaces(), Store: st,
		StatePath: "state.db", SpoolDir: spoolDir, OwnsSpool: true, Log: testlog.Quiet()}, spoolDir
}

// Namespaces added while an earlier addition is under way, after its
// applier of the rest moved on (checkpoint 12) and its copy ended: the
// checkpoint goes back to where that addition began (5), since the spool is
// refilled from one position; the copy's end is forgotten, so the newly
// added namespaces are copied; the old checkpoint's position becomes the
// replay window's end (entries up to it are applied again).
func TestCheck_AdditionDuringAnAddition(t *testing.T) {
	ctx := context.Background()
	c, spoolDir := shopCheck(t)
	c.AddOnline = true
	st := c.Store
	now := uint32(time.Now().Unix()) // positions the source's oplog still holds
	st.SetT0(bson.Timestamp{T: now, I: 1})
	st.SetCopyEnd(bson.Timestamp{T: now, I: 2})
	st.SetStage(store.StageApplied)
	if err := c.Run(ctx); err != nil {
		t.Fatalf("first start: %v", err)
	}
	load := func(dbs ...string) *config.Namespaces {
		cfg := &config.Config{}
		for _, db := range dbs {
			cfg.Sync.DBs = append(cfg.Sync.DBs, config.DB{DB: db})
		}
		if err := cfg.Finish(); err != nil {
			t.Fatal(err)
		}
		return cfg.Namespaces()
	}
	began := store.Checkpoint{Seq: 5, TS: bson.Timestamp{T: now + 10, I: 1}}
	st.SetCheckpoint(began)
	c.NS = load("shop", "blog")
	if err := c.Run(ctx); err != nil {
		t.Fatalf("blog added: %v", err)
	}
	if ck, err := st.Addition().Checkpoint(); err != nil || ck != began {
		t.Fatalf("the addition's position: %+v (%v), want %+v", ck, err, began)
	}
	moved := store.Checkpoint{Seq: 12, TS: bson.Timestamp{T: now + 20, I: 1}}
	st.SetCheckpoint(moved)
	st.Addition().SetCopyEnd(bson.Timestamp{T: now + 15, I: 1})
	c.NS = load("shop", "blog", "news")
	if err := c.Run(ctx); err != nil {
		t.Fatalf("news added during blog's addition: %v", err)
	}
	if ck, _ := st.Checkpoint(); ck != began {
		t.Errorf("checkpoint %+v, want it back at the addition's start %+v", ck, began)
	}
	if ck, _ := st.Addition().Checkpoint(); ck != began {
		t.Errorf("the addition's position %+v, want %+v", ck, began)
	}
	if end := st.Addition().CopyEnd(); !end.IsZero() {
		t.Errorf("the addition's copy end %v is kept: news would never be copied", end)
	}
	if end := st.CopyEnd(); end != moved.TS {
		t.Errorf("copy end %v, want the old checkpoint's %v (entries up to it are applied again)", end, moved.TS)
	}
	if b, _, _ := st.Binding(); !strings.Contains(b.AddingFrom, `"shop"`) || strings.Contains(b.AddingFrom, `"blog"`) {
		t.Errorf("adding_from %s, want the selection before the first addition", b.AddingFrom)
	}
	// Both moves aside kept, though within one second.
	if aside, _ := filepath.Glob(spoolDir + ".before-adding-*"); len(aside) != 2 {
		t.Errorf("spools moved aside: %v, want two", aside)
	}
}

// A sync killed while its applier followed the open segment leaves that
// segment open, its entries perhaps applied past the checkpoint. Moving
// such a spool aside to refill it moves the copy's end (the replay
// window's) up to the open segment's newest entry, read from the file:
// the spool's status counts an open segment only while its writer runs.
func TestCheck_WindowCoversTheOpenSegmentOfAStoppedSync(t *testing.T) {
	ctx := context.Background()
	c, spoolDir := shopCheck(t)
	live := filepath.Join(t.TempDir(), "live")
	w, err := spool.OpenWriter(live, spool.Options{Logger: testlog.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		e, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 100, I: uint32(i)}}, {Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{}}})
		if _, _, err := w.Append(ctx, []bson.Raw{e}); err != nil {
			t.Fatal(err)
		}
	}
	// The open segment as a kill -9 leaves it: committed, never sealed.
	l, err := spool.List(live)
	if err != nil || l.Open == nil {
		t.Fatalf("no open segment: %+v, %v", l, err)
	}
	data, err := os.ReadFile(l.Open.Path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.MkdirAll(spoolDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spoolDir, filepath.Base(l.Open.Path)), data, 0o600); err != nil {
		t.Fatal(err)
	}
	c.Store.SetStage(store.StageApplied)
	c.Store.SetCopyEnd(bson.Timestamp{T: 100, I: 1})
	if err := c.widenWindow(); err != nil {
		t.Fatal(err)
	}
	if end := c.Store.CopyEnd(); end != (bson.Timestamp{T: 100, I: 3}) {
		t.Fatalf("copy end %v, want the open segment's newest entry 100,3", end)
	}
}
