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

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/sharding"
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
