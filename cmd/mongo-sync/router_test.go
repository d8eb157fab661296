package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

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

// --shard on a source whose shards no sync recorded asks src, within the
// command's context and logging to its logger: SIGTERM while the source
// does not answer ends the command at once, and what the lookup logs goes
// to the configured log file.
func TestShardFlag_LookupStopsOnSIGTERMAndLogsToTheLogFile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() { // a source that takes connections and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, "mongodb://"+ln.Addr().String()+"/?directConnection=true", "mongodb://127.0.0.1:1", "")
	st, err := store.Open(filepath.Join(dir, "state.db")) // a replica set's sync under way
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	logfile := filepath.Join(dir, "sync.log")
	p := start(t, "reader", "-f", conf, "--shard", "s1", "--logfile", logfile)
	select {
	case <-accepted:
	case <-p.exited:
		t.Fatalf("reader --shard exited before asking the source: %v\n%s", p.err, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("reader --shard never connected to the source:\n%s", p.output())
	}
	time.Sleep(200 * time.Millisecond) // well inside the lookup's 10 s
	began := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("reader --shard still running 30 s after SIGTERM:\n%s", p.output())
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("reader --shard took %s to stop on SIGTERM while asking the source, want under 3 s:\n%s", took, p.output())
	}
	const warned = "could not ask the source whether it is a mongos"
	log, _ := os.ReadFile(logfile)
	if !strings.Contains(string(log), warned) || strings.Contains(p.output(), warned) {
		t.Errorf("the lookup's warning %q: want it in the log file, not on stderr\nlog file:\n%s\nstderr:\n%s", warned, log, p.output())
	}
}
