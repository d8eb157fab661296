package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// preload fills the source: a collection large enough to be split, one with
// secondary indexes (one unique), a capped collection, a renamed database
// and a database the filter leaves out.
func preload(t *testing.T, c *mongo.Client, orders int) {
	t.Helper()
	ctx := context.Background()
	var docs []any
	for i := 0; i < orders; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "sku", Value: fmt.Sprintf("sku-%03d", i%97)}, {Key: "qty", Value: i % 9}})
	}
	for len(docs) > 0 {
		n := min(500, len(docs))
		if _, err := c.Database("shop").Collection("orders").InsertMany(ctx, docs[:n]); err != nil {
			t.Fatal(err)
		}
		docs = docs[n:]
	}
	users := c.Database("shop").Collection("users")
	if _, err := users.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_1")},
		{Keys: bson.D{{Key: "city", Value: 1}, {Key: "age", Value: -1}}},
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		users.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("u%02d", i)}, {Key: "email", Value: fmt.Sprintf("u%d@x.org", i)}, {Key: "city", Value: "Oslo"}, {Key: "age", Value: 20 + i}})
	}
	if err := c.Database("shop").CreateCollection(ctx, "events", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<20).SetMaxDocuments(500)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		c.Database("shop").Collection("events").InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "kind", Value: "view"}})
	}
	for i := 0; i < 25; i++ {
		c.Database("crm").Collection("contacts").InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: fmt.Sprint("c", i)}})
		c.Database("private").Collection("secrets").InsertOne(ctx, bson.D{{Key: "_id", Value: i}})
	}
}

// writeLoad changes orders, users and contacts until stop closes. Wait
// waits for it to stop and fails the test if it applied nothing or the
// source refused a write: a load that did not run proves nothing.
func writeLoad(t *testing.T, c *mongo.Client, seed uint64, stop <-chan struct{}) *runningLoad {
	l := &runningLoad{t: t}
	// Each load inserts new orders from an _id of its own: a second load
	// on the same source inserts no duplicate.
	base := 1_000_000 * int(loadsStarted.Add(1))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(seed, 5))
		orders, contacts := c.Database("shop").Collection("orders"), c.Database("crm").Collection("contacts")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := rng.IntN(3000)
			var err error
			switch rng.IntN(5) {
			case 0:
				_, err = orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "qty", Value: 1}}}})
			case 1:
				_, err = orders.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
			case 2:
				_, err = orders.InsertOne(ctx, bson.D{{Key: "_id", Value: base + i}, {Key: "sku", Value: "new"}})
			case 3:
				_, err = contacts.ReplaceOne(ctx, bson.D{{Key: "_id", Value: rng.IntN(30)}}, bson.D{{Key: "name", Value: fmt.Sprint("r", i)}}, options.Replace().SetUpsert(true))
			default:
				_, err = c.Database("private").Collection("secrets").InsertOne(ctx, bson.D{{Key: "_id", Value: base + i}})
			}
			l.note(err)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return l
}

// loadsStarted numbers the write loads of the test process.
var loadsStarted atomic.Int64

// runningLoad is a running writeLoad.
type runningLoad struct {
	t  *testing.T
	wg sync.WaitGroup

	mu            sync.Mutex
	applied, errs int
	last          error
}

func (l *runningLoad) note(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs++
		l.last = err
		return
	}
	l.applied++
}

// Wait waits until the load has stopped (its stop channel closed), logs
// what it did, and fails the test if it applied nothing or the source
// refused any write.
func (l *runningLoad) Wait() {
	l.t.Helper()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("write load: %d writes applied, %d refused", l.applied, l.errs)
	if l.errs > 0 {
		l.t.Errorf("write load: the source refused %d writes (last: %v)", l.errs, l.last)
	}
	if l.applied == 0 {
		l.t.Errorf("write load: no write applied")
	}
}

// verifyEventually runs mongo-sync verify until it passes, then judges
// the end state again without mongo-sync's code (independentlyEqual): a
// bug in verify must not pass the tests that rely on it.
func verifyEventually(t *testing.T, conf string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, err := run(t, "verify", "-f", conf)
		if err == nil {
			independentlyEqual(t, conf)
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify still fails after %s: %v\n%s", d, err, out)
		}
		time.Sleep(time.Second)
	}
}

// independentlyEqual compares the source and destination of conf (a
// replica set source) without mongo-sync's code: every selected
// collection's documents, the collections on both sides, their options
// and indexes (testsync.IndependentDiff, testsync.SchemaDiff).
func independentlyEqual(t *testing.T, conf string) {
	t.Helper()
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Src.URI == "" || len(cfg.Src.Shards) > 0 {
		t.Fatalf("independentlyEqual compares a replica set source given by src.uri; %s has none (compare shards with testsync.UnionDiff)", conf)
	}
	connect := func(uri string) *mongo.Client {
		c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(20 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Disconnect(context.Background()) })
		return c
	}
	src, dst := connect(cfg.Src.URI), connect(cfg.DstMongo().URI)
	dbs := map[string]string{}
	for _, d := range cfg.Sync.DBs {
		dbs[d.DB] = d.DB
		if d.RenameDB != "" {
			dbs[d.DB] = d.RenameDB
		}
	}
	if len(dbs) == 0 {
		t.Fatalf("independentlyEqual needs sync.dbs in %s", conf)
	}
	if n := testsync.IndependentDiff(t, src, dst, dbs); n != 0 {
		t.Fatalf("verify passed, but an independent comparison finds %d document differences", n)
	}
	if n := testsync.SchemaDiff(t, []*mongo.Client{src}, dst, dbs, t.Logf); n != 0 {
		t.Fatalf("verify passed, but an independent comparison finds %d differences in collections, options or indexes", n)
	}
}

func TestSync_CopyThenLive(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	preload(t, src.Client(), 2500)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, testsync.SyncSections)
	stop := make(chan struct{})
	load := writeLoad(t, src.Client(), 1, stop)
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 120*time.Second, "initial copy done")
	time.Sleep(500 * time.Millisecond) // some writes after the copy
	close(stop)
	load.Wait()
	p.waitLog(t, 60*time.Second, "destination is consistent")
	out := verifyEventually(t, conf, 90*time.Second)
	for _, want := range []string{"shop.orders -> shop.orders", "crm.contacts -> crm2.contacts", "shop.events", "no differences"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "private") {
		t.Errorf("verify covered a database the filter leaves out:\n%s", out)
	}
	if n, _ := dst.Client().Database("private").Collection("secrets").CountDocuments(context.Background(), bson.D{}); n != 0 {
		t.Errorf("%d documents of the unselected database reached the destination", n)
	}
	if !strings.Contains(p.output(), "split into _id ranges") {
		t.Errorf("shop.orders was not split:\n%s", p.output())
	}
	if err := p.term(t); err != nil {
		t.Fatalf("sync exit on SIGTERM: %v", err)
	}
	// verify notices a difference.
	dst.Client().Database("shop").Collection("orders").DeleteOne(context.Background(), bson.D{{Key: "_id", Value: 7}})
	if out, err := run(t, "verify", "-f", conf); err == nil || !strings.Contains(out, "missing on the destination") {
		t.Fatalf("verify missed a deleted document: %v\n%s", err, out)
	}
}

func TestSync_KillNineDuringCopyAndIncremental(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	rounds := 3
	if failpointsBuild {
		rounds = 7 // the fault suite's long variant (10 until CI neared its 30 minutes)
	}
	// Enough copy work that every kill lands mid-copy (each run spends ~2 s
	// preparing on the test server before it copies).
	preload(t, src.Client(), 4000+1200*rounds)
	dir := t.TempDir()
	// One copy worker in small batches: ranges finish one by one, so kills
	// land mid-copy with some ranges done.
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, testsync.WithHostile(strings.Replace(strings.Replace(testsync.SyncSections, "workers = 3", "workers = 1", 1), "batch_docs = 200", "batch_docs = 100", 1)))
	stop := make(chan struct{})
	load := writeLoad(t, src.Client(), 2, stop)
	// Beside it, the hostile workload (internal/workload): type changes under
	// dotted paths, unique keys re-inserted under other _ids, arrays that
	// grow and shrink, one numeric _id as int32, int64 and double.
	stopHostile := hostileLoad(t, src.Client(), hostileSeed(t))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var logs strings.Builder
	copyKills, liveKills := 0, 0
	// During the copy: kill soon after the copy (re)starts, until three kills
	// landed before the copy finished; a run that finishes the copy ends this.
	for round := 0; copyKills < rounds; round++ {
		if round > 10*rounds {
			t.Fatalf("no %d kills during the copy in %d rounds (got %d)", rounds, 10*rounds, copyKills)
		}
		// Kill once this run has recorded a range, so the next run must skip it.
		p := start(t, "sync", "-f", conf, "--log-level", "debug")
		p.waitLog(t, 3*time.Minute, "range copied")
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		killRunning(t, p, "during the copy")
		out := p.output()
		logs.WriteString(out)
		if strings.Contains(out, "initial copy done") {
			t.Fatalf("the copy finished after only %d kills during it: make it longer", copyKills)
		}
		copyKills++
	}
	// During live sync: kill after the applier started.
	for liveKills < rounds {
		p := start(t, "sync", "-f", conf)
		p.waitLog(t, 5*time.Minute, "applier starting") // the first one finishes the copy
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		killRunning(t, p, "during incremental sync")
		logs.WriteString(p.output())
		liveKills++
	}
	p := start(t, "sync", "-f", conf)
	defer func() {
		if t.Failed() {
			t.Logf("the last sync run:\n%s", tail(p.output(), 60))
			hostileDiff(t, src.Client(), dst.Client())
		}
	}()
	// The last run tails the source for a while under the loads (every
	// killed run lived at most 1.5 s of live sync), then the loads stop.
	p.waitLog(t, 5*time.Minute, "applier starting")
	time.Sleep(10 * time.Second)
	close(stop)
	load.Wait()
	stopHostile()
	// The kills leave a backlog (the load ran all along): verify is polled
	// until the applier has drained it; a loss would never converge.
	verifyEventually(t, conf, 5*time.Minute)
	p.term(t)
	all := logs.String() + p.output()
	if stops := stoppedOnError(all); len(stops) > 0 {
		t.Errorf("a run stopped on an error:\n%s", strings.Join(stops, "\n"))
	}
	if !strings.Contains(all, "already copied: skipped") {
		t.Errorf("no restart skipped already-copied ranges:\n%.3000s", all)
	}
	t.Logf("kill -9 of sync: %d during the copy, %d during incremental sync; verify passes", copyKills, liveKills)
}

func TestSync_BadInput(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	ctx := context.Background()
	src.Client().Database("shop").Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
	dst.Client().Database("shop").Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: 99}})

	dir := t.TempDir()
	out, err := run(t, "sync", "-f", testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"shop\"}]\n"))
	if err == nil || !strings.Contains(out, "shop.orders holds 1 documents") || !strings.Contains(out, "--drop") {
		t.Errorf("non-empty destination: %v\n%s", err, out)
	}
	dir = t.TempDir()
	out, err = run(t, "sync", "-f", testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"nosuchdb\"}]\n"))
	if err == nil || !strings.Contains(out, "nosuchdb") {
		t.Errorf("filter naming a missing database: %v\n%s", err, out)
	}
	dir = t.TempDir()
	out, err = run(t, "sync", "-f", testsync.WriteConfig(t, dir, src.URI, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500", "[sync]\ndbs = [{db = \"shop\"}]\n"))
	if err == nil || !strings.Contains(out, "destination mongodb://127.0.0.1:1") {
		t.Errorf("unreachable destination: %v\n%s", err, out)
	}
	dir = t.TempDir()
	out, err = run(t, "sync", "-f", testsync.WriteConfig(t, dir, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500", dst.URI, ""))
	if err == nil || !strings.Contains(out, "source mongodb://127.0.0.1:1") {
		t.Errorf("unreachable source: %v\n%s", err, out)
	}
	// --drop replaces the non-empty collection.
	dir = t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"shop\"}]\n")
	p := start(t, "sync", "-f", conf, "--drop")
	verifyEventually(t, conf, 60*time.Second)
	p.term(t)
}
