package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/internal/workload"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Two, then three test servers as the shards of one sharded source,
// sharing collections with disjoint _ids, under the hostile workload: one
// sync copies them all into one destination and follows them; sync is
// killed with -9 during the copy and during live sync; one shard is down
// for 15 s. Every document arrives once: the destination is the union of
// the shards.
func TestShardedSync_TwoShards(t *testing.T)   { testShardedSync(t, 2) }
func TestShardedSync_ThreeShards(t *testing.T) { testShardedSync(t, 3) }

func testShardedSync(t *testing.T, n int) {
	testsync.Heavy(t)
	servers := make([]*testmongo.Server, n)
	for i := range servers {
		servers[i] = testmongo.StartSource(t)
		testsync.PreloadShard(t, servers[i].Client(), i*500000, 3000)
	}
	dst := testmongo.StartDest(t)
	dir := t.TempDir()
	keepDirOnFailure(t, dir)
	statusAddr := freeAddr(t)
	conf := testsync.ShardedConfig(t, dir, servers, dst.URI, testsync.WithHostile(testsync.SyncSections)+fmt.Sprintf("[http]\nlisten = %q\n", statusAddr)+testLogSection())
	seed := hostileSeed(t)
	loads := make([]*workload.Workload, n)
	stops := make([]func() workload.Counts, n)
	for i, s := range servers {
		loads[i], stops[i] = testsync.ShardLoad(t, s.Client(), seed+uint64(i), i*200000)
	}
	stopAll := func() {
		for i, stop := range stops {
			if stop != nil {
				stop()
				stops[i] = nil
			}
		}
	}
	defer stopAll()

	// kill -9 during the copy, then during live sync.
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 120*time.Second, "T0 pinned")
	time.Sleep(700 * time.Millisecond)
	killRunning(t, p, "during the copy")
	p = start(t, "sync", "-f", conf)
	p.waitLog(t, 180*time.Second, "destination is consistent: every shard's applier has passed the end of its initial copy")
	time.Sleep(2 * time.Second)
	killRunning(t, p, "during live sync")

	// The last shard down for 15 s while sync runs and the others take
	// writes. That shard's own load pauses around the kill: the test
	// server commits a write and its oplog entry separately, so a kill -9
	// between the two leaves a change no oplog entry describes (see
	// RELIABILITY.md); MongoDB writes both in one storage transaction.
	p = start(t, "sync", "-f", conf)
	p.waitLog(t, 60*time.Second, "applier starting")
	time.Sleep(time.Second)
	last := n - 1
	stops[last]()
	servers[last].Kill()
	time.Sleep(15 * time.Second)
	servers[last].Restart()
	stops[last] = testsync.LoadStopper(t, loads[last], seed+uint64(last), last*200000)
	time.Sleep(3 * time.Second)
	stopAll()

	var srcs []*mongo.Client
	for _, s := range servers {
		srcs = append(srcs, s.Client())
	}
	// cutover waits for every shard's applier to pass its T, then verifies
	// the union of the shards.
	out, err := run(t, "cutover", "-f", conf, "--verify", "full", "--timeout", "4m")
	if err != nil || !strings.Contains(out, "destination holds everything the source wrote up to T = 127.0.0.1_") || !strings.Contains(out, "no differences") {
		testsync.UnionDiff(t, srcs, dst.Client(), testsync.SyncedDBs)
		t.Fatalf("cutover on the sharded source: %v\n%s\nsync:\n%s", err, out, tail(p.output(), 40))
	}
	t.Logf("cutover:\n%s", out)
	if lines := stoppedOnError(p.output()); len(lines) > 0 {
		t.Fatalf("sync stopped on an error: %v", lines)
	}
	out = httpGet(t, "http://"+statusAddr+"/status")
	for _, want := range []string{`"shards"`, `"127.0.0.1_`, `"consistent": true`} {
		if !strings.Contains(out, want) {
			t.Errorf("/status lacks %s:\n%s", want, out)
		}
	}
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	if n := testsync.UnionDiff(t, srcs, dst.Client(), testsync.SyncedDBs); n != 0 {
		t.Fatalf("%d differences after sync stopped", n)
	}

	// Every shard in `status`; one shard's spool with --shard; a per-shard
	// command without --shard says how to name one.
	var names []string
	for _, sv := range servers {
		sh, err := config.ParseShard(sv.URI, "", config.Mongo{})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, sh.Name)
	}
	out, err = run(t, "status", "-f", conf)
	for _, name := range names {
		if !strings.Contains(out, "shard "+name+"\n") {
			err = errors.Join(err, fmt.Errorf("no shard %s", name))
		}
	}
	if err != nil || strings.Count(out, "applied up to:    seq") != n {
		t.Fatalf("status of a sharded sync: %v\n%s", err, out)
	}
	if out, err := run(t, "spool", "stat", "-f", conf, "--shard", names[last]); err != nil || !strings.Contains(out, "sealed segments") {
		t.Fatalf("spool stat --shard %s: %v\n%s", names[last], err, out)
	}
	for _, args := range [][]string{{"reader", "-f", conf}, {"applier", "-f", conf}, {"spool", "stat", "-f", conf}} {
		if out, err := run(t, args...); err == nil || !strings.Contains(out, "--shard NAME") {
			t.Errorf("%v on a sharded config without --shard: %v\n%s", args[:len(args)-2], err, out)
		}
	}
	if out, err := run(t, "status", "-f", conf, "--shard", "nope"); err == nil || !strings.Contains(out, "no such shard") || !strings.Contains(out, names[0]) {
		t.Errorf("--shard nope: %v\n%s", err, out)
	}
}
