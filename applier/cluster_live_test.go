package applier

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// An idle shard does not hold the others: two test servers as shards, one
// written to, one never. The written shard's entries wait for the idle
// shard's readThrough, which only the idle clock rule (HelloClock) moves
// on the test server; they reach the destination.
func TestCluster_IdleShardDoesNotHold(t *testing.T) {
	srcs := [2]*testmongo.Server{testmongo.StartSource(t), testmongo.StartSource(t)}
	dst := testmongo.StartDest(t).Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	cl := gate.NewCluster(quietLog())
	done := make(chan error, 4)
	for i, src := range srcs {
		client, id, err := reader.Connect(ctx, config.Mongo{URI: src.URI})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Disconnect(context.Background())
		g := cl.Shard(fmt.Sprint("shard", i), gate.HelloClock(client))
		dir := filepath.Join(t.TempDir(), "spool")
		w, err := spool.OpenWriter(dir, spool.Options{SealInterval: 50 * time.Millisecond, Source: id, Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		r := &reader.Reader{W: g.Appender(w), BatchInterval: 20 * time.Millisecond, Log: quietLog(),
			Source: &reader.OplogSource{Client: client, Log: quietLog(), Idle: g}}
		sr, err := spool.OpenReader(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer sr.Close()
		st, err := store.Open(filepath.Join(filepath.Dir(dir), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a := &Applier{Spool: sr, SpoolDir: dir, Store: st, Translator: translate.NewTranslator(nil),
			Exec:     &exec.Executor{Client: dst, Workers: 2, BulkSize: 20, Log: quietLog()},
			BatchOps: 1000, BatchBytes: 16 << 20, LogInterval: 1 << 62, Log: quietLog(), Gate: g}
		go func() { done <- r.Run(runCtx) }()
		go func() { done <- a.Run(runCtx) }()
	}
	defer func() {
		stop()
		for range 4 {
			if err := <-done; err != nil {
				t.Errorf("stage: %v", err)
			}
		}
	}()
	coll := srcs[0].Client().Database("db").Collection("c")
	for i := range 20 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		n, err := dst.Database("db").Collection("c").CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 20 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the destination holds %d of 20 documents: %+v", n, cl.Snapshot())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
