package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/internal/workload"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"go.mongodb.org/mongo-driver/v2/mongo"
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
	testsync.Heavy(t)
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
