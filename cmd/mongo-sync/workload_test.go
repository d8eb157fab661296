package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/internal/workload"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// hostileLoad creates the hostile workload's collections and unique index on
// the source, then runs it until the returned function is called; that
// function stops it and logs what it did.
// hostileSeed is the hostile workload's seed: MONGO_SYNC_TEST_SEED when set
// (a failed run's logged seed, to run it again), else the clock.
func hostileSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MONGO_SYNC_TEST_SEED"); v != "" {
		if _, err := fmt.Sscan(v, &seed); err != nil {
			t.Fatalf("MONGO_SYNC_TEST_SEED=%q: %v", v, err)
		}
	}
	return seed
}

func hostileLoad(t *testing.T, c *mongo.Client, seed uint64) func() workload.Counts {
	t.Helper()
	ctx := context.Background()
	w := workload.New(c, workload.Options{Seed: seed})
	if err := w.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("hostile workload: seed %d", seed)
	stop := w.Start(ctx)
	return func() workload.Counts {
		n := stop()
		t.Logf("hostile workload (seed %d): %s", seed, n)
		// The source is never down under this load: a refused write,
		// or no write at all, leaves the sync nothing to prove.
		if err := n.Err(); err != nil {
			t.Errorf("hostile workload (seed %d): %v", seed, err)
		}
		return n
	}
}

// killRunning kills p with -9; it fails if p already stopped by itself
// (a restart that stops on an entry is a failure, not a kill).
func killRunning(t *testing.T, p *proc, when string) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("sync stopped by itself %s (%v):\n%s", when, p.err, tail(p.output(), 40))
	default:
	}
	p.kill9()
}

// stoppedOnError returns the lines where a run of mongo-sync exited with an
// error (main prints "mongo-sync: <error>"); kill -9 prints nothing.
func stoppedOnError(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.HasPrefix(l, "mongo-sync: ") {
			out = append(out, l)
		}
	}
	return out
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// hostileDiff logs the documents of the hostile workload's database that
// differ between source and destination (types kept, field order ignored),
// for a failing test's report.
func hostileDiff(t *testing.T, src, dst *mongo.Client) {
	t.Helper()
	ctx := context.Background()
	names, err := src.Database("hostile").ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Logf("hostile diff: %v", err)
		return
	}
	read := func(c *mongo.Client, coll string) map[string]string {
		out := map[string]string{}
		cur, err := c.Database("hostile").Collection(coll).Find(ctx, bson.D{})
		if err != nil {
			t.Logf("hostile diff: %v", err)
			return out
		}
		for cur.Next(ctx) {
			id := bsonx.Canonical(bson.Raw(testsync.IDDoc("_id", cur.Current.Lookup("_id"))))
			out[id] = bsonx.Canonical(cur.Current)
		}
		return out
	}
	for _, coll := range names {
		a, b := read(src, coll), read(dst, coll)
		for id, x := range a {
			if y := b[id]; y != x {
				t.Logf("hostile.%s %s\n  source:      %s\n  destination: %s", coll, id, x, y)
			}
		}
		for id, y := range b {
			if _, ok := a[id]; !ok {
				t.Logf("hostile.%s %s only on the destination: %s", coll, id, y)
			}
		}
	}
}
