package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/internal/workload"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The copy of a sharded source through its mongos, run in process: the
// test servers have no mongos, so shard A stands in as the router of a
// two-shard cluster whose shard B is empty when the copy begins (the copy
// through A then reads what the cluster held; everything B gets is written
// after B's T0, so it comes from B's oplog). What is tested is the sync's
// side: one copy through the router with a state file of its own, stopped
// in the middle and resumed; the hand-over by UUID, so that B knows none of
// the collections it does not hold; each shard's own copy end; then live
// sync of both under the hostile workload, compared with their union.
// Discovery and the balancer need a real mongos
// (TestShardedSource_RealMongos).
func TestShardedSync_CopyThroughRouter(t *testing.T) {
	defer func(d time.Duration) { balancerEvery = d }(balancerEvery)
	balancerEvery = 0 // the stand-in router is no mongos: it has no balancer
	a, b := testmongo.StartSource(t), testmongo.StartSource(t)
	dst := testmongo.StartDest(t)
	testsync.PreloadShard(t, a.Client(), 0, 20000)
	dir := t.TempDir()
	conf := testsync.ShardedConfig(t, dir, []*testmongo.Server{a, b}, dst.URI, testsync.WithHostile(testsync.SyncSections))
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Src.URI = a.URI
	shards, err := cfg.Shards()
	if err != nil || len(shards) != 2 {
		t.Fatalf("shards: %v %v", shards, err)
	}
	seed := uint64(time.Now().UnixNano())
	_, stopA := testsync.ShardLoad(t, a.Client(), seed, 0)
	var stopB func() workload.Counts
	defer func() {
		if stopA != nil {
			stopA()
		}
		if stopB != nil {
			stopB()
		}
	}()
	log, hook := logtest.NewNullLogger()
	entries := func(msg string) []*logrus.Entry {
		var out []*logrus.Entry
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, msg) {
				out = append(out, e)
			}
		}
		return out
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s; log:\n%s", what, d, logTail(hook, 30))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	syncOnce := func(rec *status.Recorder) (cancel func() error) {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runShardedSync(ctx, cfg, shards, a.Client(), "", rec, log) }()
		return func() error {
			stop()
			return <-done
		}
	}

	// Both T0s pinned: B's writes begin (its preload too), all after its T0.
	stop := syncOnce(status.New("sync"))
	waitFor("copy through the mongos", 120*time.Second, func() bool { return len(entries("initial copy through the mongos")) > 0 })
	if n := len(entries("T0 pinned")); n != 2 {
		t.Fatalf("%d T0s pinned before the copy, want 2", n)
	}
	wb := workload.New(b.Client(), workload.Options{Seed: seed + 1, Base: 200000, Rate: 60})
	if err := wb.Preload(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopB = testsync.LoadStopper(t, wb, seed+1, 200000)
	// Stopped in the middle of the copy, then run again: it resumes from
	// its own state file.
	time.Sleep(300 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	cst, err := store.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st := cst.Stage(); st != store.StageCopying {
		t.Fatalf("the copy was not stopped in the middle (its state file says %q): the test needs a longer copy", st)
	}
	cst.Close()
	rec := status.New("sync")
	stop = syncOnce(rec)
	waitFor("consistent destination", 300*time.Second, func() bool { return rec.Snapshot().Consistent })
	handed := map[string]int{}
	for _, e := range entries("handed over to the shard") {
		handed[fmt.Sprint(e.Data["shard"])] = e.Data["collections"].(int)
	}
	if len(handed) != 2 || handed[shards[0].Name] == 0 || handed[shards[1].Name] != 0 {
		t.Errorf("collections handed over per shard: %v; want some for %s (the router's) and none for %s, which held none of the copied ones", handed, shards[0].Name, shards[1].Name)
	}
	if len(entries("initial copy done")) != 2 {
		t.Errorf("%d copy ends recorded, want one per shard", len(entries("initial copy done")))
	}
	time.Sleep(2 * time.Second)
	stopA()
	stopB()
	stopA, stopB = nil, nil

	srcs := []*mongo.Client{a.Client(), b.Client()}
	waitFor("destination equal to the union of the shards", 300*time.Second, func() bool {
		return testsync.DiffUnion(t, srcs, dst.Client(), testsync.SyncedDBs, func(string, ...any) {}) == 0
	})
	if err := stop(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if n := testsync.UnionDiff(t, srcs, dst.Client(), testsync.SyncedDBs); n != 0 {
		t.Fatalf("%d differences", n)
	}

	// The copy's state file says done; B's catalog holds none of the
	// copy's collections (it learns its own from its creates).
	cst, err = store.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	copied, _ := cst.Collections()
	if cst.Stage() != store.StageApplied || len(copied) == 0 {
		t.Errorf("the copy's state file: stage %q, %d collections", cst.Stage(), len(copied))
	}
	cst.Close()
	for i, sh := range shards {
		sst, err := store.Open(cfg.ForShard(sh).Store.Path)
		if err != nil {
			t.Fatal(err)
		}
		cat, _ := sst.Collections()
		if sst.CopyEnd().Before(sst.T0()) || sst.CopyEnd().IsZero() {
			t.Errorf("shard %s: copy end %v before T0 %v", sh.Name, sst.CopyEnd(), sst.T0())
		}
		sst.Close()
		for u := range cat {
			if _, ok := copied[u]; ok && i == 1 {
				t.Errorf("shard %s knows collection %s of the copy, which it never held", sh.Name, copied[u])
			}
		}
	}
}

func logTail(h *logtest.Hook, n int) string {
	var b strings.Builder
	all := h.AllEntries()
	for _, e := range all[max(0, len(all)-n):] {
		b.WriteString(e.Message)
		for k, v := range e.Data {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// src beside src.shards names the cluster's mongos; a server that is none
// is an error naming it, before anything is written.
func TestSync_ShardsBesideNoMongos(t *testing.T) {
	a, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	dir := t.TempDir()
	conf := testsync.ShardedConfig(t, dir, []*testmongo.Server{a}, dst.URI, testsync.SyncSections)
	body, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	body = []byte(strings.Replace(string(body), "[src]\n", fmt.Sprintf("[src]\nuri = %q\n", a.URI), 1))
	if err := os.WriteFile(conf, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "sync", "-f", conf)
	if err == nil || !strings.Contains(out, "is not a mongos") || !strings.Contains(out, "src.shards") {
		t.Fatalf("sync with src.shards beside a src that is no mongos: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "spool")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused sync left a spool directory: %v", err)
	}
}

// A real sharded source through its mongos (MONGO_SYNC_TEST_SRC_MONGOS, a
// cluster with its balancer stopped) into MONGO_SYNC_TEST_DST: the shards
// come from listShards, the copy reads through the mongos, each shard's
// oplog is tailed directly, and cutover verifies the cluster's documents.
// A cluster whose balancer runs must be refused, naming the command.
func TestShardedSource_RealMongos(t *testing.T) {
	uri := os.Getenv("MONGO_SYNC_TEST_SRC_MONGOS")
	if uri == "" || os.Getenv("MONGO_SYNC_TEST_DST") == "" {
		t.Skip("MONGO_SYNC_TEST_SRC_MONGOS and MONGO_SYNC_TEST_DST are not set: no real sharded source (the test server is no mongos)")
	}
	ctx := context.Background()
	router, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer router.Disconnect(ctx)
	if ok, err := sharding.IsMongos(ctx, router); err != nil || !ok {
		t.Fatalf("MONGO_SYNC_TEST_SRC_MONGOS is no mongos (hello: %v)", err)
	}
	dst := testmongo.StartDest(t)
	db := fmt.Sprintf("mongosync_src_%d", time.Now().UnixNano())
	defer router.Database(db).Drop(ctx)
	for _, cmd := range []bson.D{{{Key: "enableSharding", Value: db}}, sharding.ShardCollection(db+".orders", bson.D{{Key: "sku", Value: "hashed"}}, false).Cmd} {
		if err := router.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	orders := router.Database(db).Collection("orders")
	for i := 0; i < 2000; i++ {
		if _, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "sku", Value: fmt.Sprint("sku-", i%101)}, {Key: "n", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, uri, dst.URI, fmt.Sprintf("[sync]\ndbs = [ { db = %q } ]\n[http]\nlisten = %q\n", db, freeAddr(t)))
	b, err := sharding.BalancerState(ctx, router)
	if err != nil {
		t.Fatal(err)
	}
	if b.Moves() {
		out, err := run(t, "sync", "-f", conf)
		if err == nil || !strings.Contains(out, "sh.stopBalancer()") {
			t.Fatalf("sync on a cluster whose balancer runs: %v\n%s", err, out)
		}
		t.Skip("the cluster's balancer runs: sync refused it as it should; stop it to run the rest of this test")
	}
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 300*time.Second, "destination is consistent: every shard's applier has passed the end of its initial copy")
	for i := 2000; i < 2500; i++ {
		if _, err := orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: i - 2000}, {Key: "sku", Value: fmt.Sprint("sku-", (i-2000)%101)}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "sku", Value: fmt.Sprint("sku-", i%101)}}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(t, "cutover", "-f", conf, "--verify", "full", "--timeout", "5m")
	if err != nil || !strings.Contains(out, "no differences") {
		t.Fatalf("cutover: %v\n%s\nsync:\n%s", err, out, tail(p.output(), 40))
	}
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	if n, _ := dst.Client().Database(db).Collection("orders").CountDocuments(ctx, bson.D{}); n != 2500 {
		t.Fatalf("destination holds %d orders, want 2500", n)
	}
}

// A sync that begins needs its source: one that does not answer is an
// error naming it, not a guess that it is a replica set.
func TestSync_FreshSourceDown(t *testing.T) {
	dst := testmongo.StartDest(t)
	dir := t.TempDir()
	down := "mongodb://" + freeAddr(t) + "/?serverSelectionTimeoutMS=2000"
	conf := testsync.WriteConfig(t, dir, down, dst.URI, testsync.SyncSections)
	out, err := run(t, "sync", "-f", conf)
	if err == nil || !strings.Contains(out, "does not answer, and a sync that begins needs it") {
		t.Fatalf("sync with its source down at the start: %v\n%s", err, out)
	}
}
