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
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The copy of a sharded source through its mongos, run in process on a
// one-shard cluster: the test servers have no mongos, and a cluster of one
// shard reads the same through its router as from the shard, so the shard
// stands in as its own router. What is tested is the sync's side: one copy
// through the router with a state file of its own, resumed after a stop
// in the middle; each shard given the catalog of what it holds and its own
// copy end; live sync after it, under the hostile workload. Discovery and
// the balancer need a real mongos (TestShardedSource_RealMongos).
func TestShardedSync_CopyThroughRouter(t *testing.T) {
	a := testmongo.StartSource(t)
	dst := testmongo.StartDest(t)
	preloadShard(t, a.Client(), 0, 3000)
	dir := t.TempDir()
	conf := shardedConfig(t, dir, []*testmongo.Server{a}, dst.URI, withHostile(syncSections))
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Src.URI = a.URI
	shards, err := cfg.Shards()
	if err != nil || len(shards) != 1 {
		t.Fatalf("shards: %v %v", shards, err)
	}
	seed := uint64(time.Now().UnixNano())
	_, stopLoad := shardLoad(t, a.Client(), seed, 0)
	loads := true
	defer func() {
		if loads {
			stopLoad()
		}
	}()
	log, hook := logtest.NewNullLogger()
	logged := func(msg string) bool {
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, msg) {
				return true
			}
		}
		return false
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s; log:\n%s", what, d, logTail(hook, 30))
			}
			time.Sleep(100 * time.Millisecond)
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

	// Stopped in the middle of the copy, then run again: the copy resumes
	// from its own state file.
	stop := syncOnce(status.New("sync"))
	waitFor("copy through the mongos", 120*time.Second, func() bool { return logged("initial copy through the mongos") })
	time.Sleep(700 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	rec := status.New("sync")
	stop = syncOnce(rec)
	waitFor("consistent destination", 180*time.Second, func() bool { return rec.Snapshot().Consistent })
	for _, want := range []string{"handed over to the shard", "initial copy done"} {
		if !logged(want) {
			t.Errorf("no %q in the log", want)
		}
	}
	time.Sleep(2 * time.Second)
	loads = false
	stopLoad()

	srcs := []*mongo.Client{a.Client()}
	waitFor("destination equal to the source", 120*time.Second, func() bool {
		return diffUnion(t, srcs, dst.Client(), syncedDBs, func(string, ...any) {}) == 0
	})
	if err := stop(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if n := unionDiff(t, srcs, dst.Client(), syncedDBs); n != 0 {
		t.Fatalf("%d differences", n)
	}

	// The copy's own state file says done; the shard's knows the
	// collections it holds and has its copy end.
	cst, err := store.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	if cst.Stage() != store.StageApplied {
		t.Errorf("the copy's state file: stage %q", cst.Stage())
	}
	cst.Close()
	sst, err := store.Open(cfg.ForShard(shards[0]).Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer sst.Close()
	cat, err := sst.Collections()
	if err != nil || len(cat) == 0 {
		t.Errorf("the shard's catalog after the hand-over: %v %v", cat, err)
	}
	if sst.CopyEnd().IsZero() {
		t.Error("the shard has no copy end")
	}
	if _, err := os.Stat(cfg.Store.Path); err != nil {
		t.Error(err)
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
	conf := shardedConfig(t, dir, []*testmongo.Server{a}, dst.URI, syncSections)
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
	conf := writeConfig(t, dir, uri, dst.URI, fmt.Sprintf("[sync]\ndbs = [ { db = %q } ]\n[http]\nlisten = %q\n", db, freeAddr(t)))
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
