//go:build failpoints

package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/inspect"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The fault suite (make test-faults): each scenario runs a live sync under
// a steady write load, injects the fault, stops the load and checks with
// verify that nothing was lost and nothing extra arrived.

// liveSync preloads, starts sync from scratch (copy + live) and a load.
func liveSync(t *testing.T, extra string) (src, dst *testmongo.Server, conf string, p *proc, stopLoad func()) {
	t.Helper()
	src, dst = testmongo.StartSource(t), testmongo.StartDest(t)
	if src.Real || dst.Real {
		t.Skip("the fault suite kills servers: it needs the test server")
	}
	preload(t, src.Client(), 1000)
	dir := t.TempDir()
	conf = testsync.WriteConfig(t, dir, src.URI, dst.URI, testsync.SyncSections+extra)
	p = start(t, "sync", "-f", conf)
	p.waitLog(t, 120*time.Second, "applier starting")
	stop := make(chan struct{})
	l := writeLoad(t, src.Client(), uint64(time.Now().UnixNano()), stop)
	return src, dst, conf, p, func() { close(stop); l.Wait() }
}

func alive(t *testing.T, p *proc, when string) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("sync exited %s (%v):\n%s", when, p.err, p.output())
	default:
	}
}

func TestFault_DestinationDown30s(t *testing.T) {
	_, dst, conf, p, stopLoad := liveSync(t, "")
	time.Sleep(2 * time.Second)
	dst.Kill()
	time.Sleep(30 * time.Second) // writes go on; the applier retries
	alive(t, p, "while the destination was down")
	dst.Restart()
	time.Sleep(2 * time.Second)
	stopLoad()
	verifyEventually(t, conf, 120*time.Second)
	if !strings.Contains(p.output(), "retrying") {
		t.Errorf("no retry was logged:\n%s", p.output())
	}
	p.term(t)
}

// TestFault_SourceDownDuringCopy: the source is killed with SIGKILL while
// the copy reads it and comes back 3 s later; the ranges that failed start
// over, sync goes on to live sync, and verify passes. No load runs, so no
// write is in flight at the kill (see TestFault_SourceDownAndBack).
func TestFault_SourceDownDuringCopy(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	if src.Real || dst.Real {
		t.Skip("the fault suite kills servers: it needs the test server")
	}
	preload(t, src.Client(), 20000)
	dir := t.TempDir()
	// Small ranges: each is a full scan on the test server, so the copy
	// lasts seconds, long enough to be interrupted. A short server selection
	// timeout: with the default (15 s) a range starting during the outage
	// may simply wait it out and never fail.
	conf := testsync.WriteConfig(t, dir, src.URI+"?serverSelectionTimeoutMS=500", dst.URI, `[sync]
dbs = [ { db = "shop" }, { db = "crm", rename_db = "crm2" } ]
[copy]
split_docs = 1000
split = "always"
workers = 2
batch_docs = 200
`)
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 60*time.Second, "split into _id ranges")
	time.Sleep(800 * time.Millisecond)
	if strings.Contains(p.output(), "initial copy done") {
		t.Fatal("the copy ended before the source was killed: the test needs a longer copy")
	}
	src.Kill()
	time.Sleep(3 * time.Second)
	alive(t, p, "while the source was down during the copy")
	src.Restart()
	p.waitLog(t, 180*time.Second, "initial copy done")
	verifyEventually(t, conf, 120*time.Second)
	if !regexp.MustCompile(`copy shop\.orders range \d+: server unavailable, retrying`).MatchString(p.output()) {
		t.Errorf("no copy range retry was logged:\n%s", p.output())
	}
	p.term(t)
}

// TestFault_SourceDownAndBack: the source is killed with SIGKILL and comes
// back; sync survives, resumes tailing, and everything arrives. The load
// pauses around the kill: the test server commits a write and its oplog
// entry separately (FerretDB's oplog decorator), so a kill between the two
// leaves a change no oplog describes, which no replayer can copy (seen once
// in CI: one document differed). MongoDB writes both in one transaction.
func TestFault_SourceDownAndBack(t *testing.T) {
	src, _, conf, p, stopLoad := liveSync(t, "")
	time.Sleep(2 * time.Second)
	stopLoad()
	src.Kill()
	time.Sleep(10 * time.Second)
	alive(t, p, "while the source was down")
	src.Restart()
	stop := make(chan struct{})
	l := writeLoad(t, src.Client(), uint64(time.Now().UnixNano()), stop)
	time.Sleep(3 * time.Second) // writes on the restarted source
	close(stop)
	l.Wait()
	verifyEventually(t, conf, 120*time.Second)
	p.term(t)
}

// TestFault_SpoolFull: with the applier stopped the spool reaches
// spool.max_bytes; the reader waits and warns; once the applier runs again
// it drains, the reader resumes, and nothing is lost.
func TestFault_SpoolFull(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "")
	body, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(body), "[spool]\n", "[spool]\nsegment_max_bytes = \"64KiB\"\nmax_bytes = \"192KiB\"\n", 1)), 0o600)
	rd := start(t, "reader", "-f", conf, "--start-optime", nowOptime())
	rd.waitLog(t, 30*time.Second, "starting at")
	coll := src.Client().Database("shop").Collection("orders")
	big := strings.Repeat("x", 2000)
	insert := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: big}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// In groups of 20 (40 KB), each spooled before the next is written: a
	// reader that found all 300 at once (a source whose oplog query is
	// slow, or one getMore on MongoDB) would append them as one batch,
	// which the cap lets by.
	full := func() bool { return strings.Contains(rd.output(), "spool is full") }
	n := 0
	for ; n < 300 && !full(); n += 20 {
		insert(n, n+20)
		waitFor(t, 60*time.Second, "the group spooled, or the spool full", func() bool {
			return full() || len(spooledData(t, filepath.Join(dir, "spool"))) >= n+20
		})
	}
	insert(n, 300)
	rd.waitLog(t, 60*time.Second, "spool is full")
	alive(t, rd, "with a full spool")
	// The reader stopped short: the cap holds back the rest (it may be
	// passed by at most one reader batch and the open segment). A negative
	// check needs a window: the writer asks for room again at least every
	// second while full (spool/room.go), so 2 s spans two refusals, and a
	// writer that appended past the cap would have appended by then.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if n := len(spooledData(t, filepath.Join(dir, "spool"))); n >= 300 {
			t.Fatalf("all %d entries were spooled past max_bytes", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ap := start(t, "applier", "-f", conf)
	rd.waitLog(t, 120*time.Second, "spool has room again")
	waitSame(t, src.Client().Database("shop"), dst.Client().Database("shop"), 120*time.Second)
	ap.term(t)
	rd.term(t)
}

// TestFault_DamagedSegment: a segment the applier has not applied yet is
// damaged; the applier stops with an error naming it and applies nothing
// past it; no other spool file and not the checkpoint changes.
func TestFault_DamagedSegment(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "")
	sp := filepath.Join(dir, "spool")
	rd := start(t, "reader", "-f", conf, "--start-optime", nowOptime())
	rd.waitLog(t, 30*time.Second, "starting at")
	coll := src.Client().Database("shop").Collection("orders")
	insert := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(0, 50)
	waitFor(t, 30*time.Second, "50 spooled", func() bool { return len(spooledData(t, sp)) >= 50 })
	ap := start(t, "applier", "-f", conf)
	waitFor(t, 30*time.Second, "50 applied", func() bool {
		n, _ := dst.Client().Database("shop").Collection("orders").CountDocuments(context.Background(), bson.D{})
		return n == 50
	})
	ap.term(t)
	insert(50, 50)
	waitFor(t, 30*time.Second, "the last write spooled", func() bool {
		// Applied segments are gone: look for the last write itself.
		for _, e := range spooledData(t, sp) {
			if id, _ := e.Raw.Lookup("o", "_id").AsInt64OK(); id == 99 {
				return true
			}
		}
		return false
	})
	if err := rd.term(t); err != nil {
		t.Fatalf("reader exit on SIGTERM: %v\n%s", err, rd.output())
	}
	before := offlineStatusOf(t, conf)
	if before.AppliedSeq < 50 {
		t.Fatalf("status --json says applied up to seq %d before the damage; the applier applied 50 entries", before.AppliedSeq)
	}

	segs, err := filepath.Glob(filepath.Join(sp, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	sums := map[string][32]byte{}
	for _, s := range segs {
		var first uint64
		fmt.Sscanf(filepath.Base(s), "%d-", &first)
		if victim == "" && first > before.AppliedSeq {
			victim = s
			continue
		}
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		sums[s] = sha256.Sum256(b)
	}
	if victim == "" {
		t.Fatalf("no unapplied segment among %v (applied up to %d)", segs, before.AppliedSeq)
	}
	// Cut it to three pages: bbolt preallocates, so half a file could still
	// hold every page in use.
	if err := os.Truncate(victim, 3*4096); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "applier", "-f", conf)
	if err == nil || !strings.Contains(out, filepath.Base(victim)) || !strings.Contains(out, "damaged") {
		t.Fatalf("applier on a damaged segment: %v, want an error naming %s:\n%s", err, filepath.Base(victim), out)
	}
	for s, sum := range sums {
		if b, err := os.ReadFile(s); err != nil || sha256.Sum256(b) != sum {
			t.Errorf("segment %s changed (%v)", filepath.Base(s), err)
		}
	}
	after := offlineStatusOf(t, conf)
	if after.AppliedSeq != before.AppliedSeq {
		t.Errorf("checkpoint moved from %d to %d past a damaged segment", before.AppliedSeq, after.AppliedSeq)
	}
}

// TestFault_Failpoints kills sync at the dangerous points inside our own
// code, several times each, then lets it finish: nothing lost, nothing extra.
func TestFault_Failpoints(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	preload(t, src.Client(), 3000)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, testsync.WithHostile(strings.Replace(testsync.SyncSections, "workers = 3", "workers = 1", 1)))
	stop := make(chan struct{})
	load := writeLoad(t, src.Client(), 9, stop)
	stopHostile := hostileLoad(t, src.Client(), hostileSeed(t))
	fired := map[string]int{}
	plan := []string{
		"copy-before-range-done:1", "copy-before-range-done:2", "copy-before-range-done:3",
		"spool-mid-append:2", "applier-before-checkpoint:1", "spool-mid-append:5",
		"applier-before-checkpoint:3", "spool-mid-append:9", "applier-before-checkpoint:6",
	}
	for _, fp := range plan {
		p := startEnv(t, []string{"MONGO_SYNC_FAILPOINT=" + fp}, "sync", "-f", conf)
		select {
		case <-p.exited:
		case <-time.After(90 * time.Second):
			p.kill9()
			t.Fatalf("failpoint %s never fired:\n%s", fp, p.output())
		}
		name, _, _ := strings.Cut(fp, ":")
		if !strings.Contains(p.output(), "failpoint "+name+" hit") {
			t.Fatalf("sync exited without reaching %s (%v):\n%s", fp, p.err, p.output())
		}
		fired[name]++
	}
	close(stop)
	load.Wait()
	stopHostile()
	p := start(t, "sync", "-f", conf)
	verifyEventually(t, conf, 120*time.Second)
	p.term(t)
	t.Logf("failpoints fired: %v; verify passes", fired)
}

// offlineStatusOf runs status --json on conf and decodes it; a failed run
// or an answer that does not decode fails the test (a zero status would
// make "the checkpoint did not move" hold for any checkpoint).
func offlineStatusOf(t *testing.T, conf string) inspect.Status {
	t.Helper()
	out, err := run(t, "status", "-f", conf, "--json")
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var st inspect.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.Stage == "" || st.StateMissing != "" {
		t.Fatalf("status --json: no stage or no state file:\n%s", out)
	}
	return st
}
