package cutover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/pipeline"
	"github.com/mongo-sync/mongo-sync/status"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// standInBlock replaces setUserWriteBlockMode, which the test server does
// not have, for the length of a test: "blocking" starts write (a user the
// block does not stop, when not nil) and returns once its first write is
// acknowledged; unblocking stops it. It counts the calls.
func standInBlock(t *testing.T, write func(ctx context.Context, i int) error) (blocks, unblocks *int) {
	t.Helper()
	blocks, unblocks = new(int), new(int)
	var (
		mu   sync.Mutex
		stop func()
	)
	end := func() {
		mu.Lock()
		defer mu.Unlock()
		if stop != nil {
			stop()
			stop = nil
		}
	}
	t.Cleanup(func() { end(); blockWrites = setWriteBlock })
	blockWrites = func(ctx context.Context, _ *mongo.Client, on bool) error {
		if !on {
			*unblocks++
			end()
			return nil
		}
		*blocks++
		if write == nil {
			return nil
		}
		if err := write(ctx, 0); err != nil {
			return fmt.Errorf("stand-in writer: %w", err)
		}
		wctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 1; wctx.Err() == nil; i++ {
				if err := write(wctx, i); err != nil && wctx.Err() == nil {
					t.Errorf("stand-in writer: %v", err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		mu.Lock()
		stop = func() { cancel(); <-done }
		mu.Unlock()
		return nil
	}
	return blocks, unblocks
}

// The whole cutover with --block-writes beside a running sync, with a
// stand-in block: a writer the block does not stop (a root user) makes it
// fail, naming the writes, and unblock; a writer to unselected namespaces,
// or none, lets it finish.
func TestRun_BlockWritesProvesNoWriterGotThrough(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	ctx := context.Background()
	orders := src.Client().Database("shop").Collection("orders")
	for i := 0; i < 50; i++ {
		if _, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	// SyncSections selects crm too: the sync wants it on the source.
	if _, err := src.Client().Database("crm").Collection("contacts").InsertOne(ctx, bson.D{{Key: "_id", Value: "c1"}}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := testsync.WriteConfig(t, t.TempDir(), src.URI, dst.URI, testsync.SyncSections+fmt.Sprintf("[http]\nlisten = %q\n", addr))
	load := func() *config.Config {
		cfg, err := config.Load(conf)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	// The sync, in this process, serving /status as the command does.
	sctx, stopSync := context.WithCancel(ctx)
	syncDone := make(chan error, 1)
	defer func() {
		stopSync()
		if err := <-syncDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("sync: %v", err)
		}
	}()
	scfg := load()
	rec := status.New("sync")
	if _, err := status.Serve(sctx, scfg.HTTP.ListenAddr(), rec, testlog.Quiet()); err != nil {
		t.Fatal(err)
	}
	// A sync that stops ends the cutovers at once, with its error.
	rctx, stopRuns := context.WithCancelCause(ctx)
	go func() {
		err := pipeline.Sync(sctx, scfg, "", rec, testlog.Quiet())
		stopRuns(fmt.Errorf("the sync stopped: %v", err))
		syncDone <- err
	}()

	insertInto := func(db, coll string) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error {
			_, err := src.Client().Database(db).Collection(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("after-block-%d", i)}})
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		writer func(ctx context.Context, i int) error
		fails  bool
	}{
		{"no writer", nil, false},
		{"a writer to an unselected namespace", insertInto("other", "things"), false},
		{"a writer the block does not stop", insertInto("shop", "orders"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, unblocks := standInBlock(t, tc.writer)
			var out bytes.Buffer
			cfg := load()
			o := Options{BlockWrites: true, Verify: "full", Timeout: 2 * time.Minute, StatusURL: "http://" + addr + "/status"}
			cfg.HTTP.Listen = ""
			err := Run(rctx, cfg, o, &out, testlog.Quiet())
			if rctx.Err() != nil {
				t.Fatalf("%v; cutover: %v\n%s", context.Cause(rctx), err, out.String())
			}
			t.Logf("cutover: %v\n%s", err, out.String())
			if *blocks != 1 {
				t.Fatalf("the stand-in block was asked %d times, want 1", *blocks)
			}
			if !tc.fails {
				if err != nil || !strings.Contains(out.String(), "destination holds everything the source wrote up to T = ") ||
					!strings.Contains(out.String(), "no user writes to the synced namespaces reached the source after the block") {
					t.Fatalf("cutover failed: %v\n%s", err, out.String())
				}
				return
			}
			var be *BypassError
			if !errors.As(err, &be) || be.N == 0 || strings.Join(be.NS, ",") != "shop.orders" {
				t.Fatalf("cutover with a writer the block does not stop: %v (want a BypassError naming shop.orders)\n%s", err, out.String())
			}
			for _, want := range []string{"user writes to synced namespaces reached the source after user writes were blocked", "shop.orders", "bypassWriteBlockingMode", "db.currentOp"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error lacks %q: %v", want, err)
				}
			}
			if strings.Contains(out.String(), "destination holds everything") {
				t.Fatalf("a cutover with writes after the block said the destination holds everything:\n%s", out.String())
			}
			if *unblocks != 1 || !strings.Contains(out.String(), "user writes on the source are unblocked") {
				t.Fatalf("the failed cutover did not unblock (%d calls):\n%s", *unblocks, out.String())
			}
		})
	}
}
