package main

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSync_KillNineDuringOnlineAddition: databases added to sync.dbs of a
// running sync are copied online, and kill -9 lands during their copy and
// during their catch-up, while loads write to the databases synced before
// (shop, crm) and the hostile workload to an added one (type changes
// under dotted paths, unique keys re-inserted under other _ids, arrays that
// grow and shrink, one numeric _id as int32, int64 and double). The end
// state passes verify and a comparison that uses none of mongo-sync's code.
func TestSync_KillNineDuringOnlineAddition(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	rounds := 3
	if failpointsBuild {
		rounds = 4 // the fault suite's (6 until CI neared its 30 minutes)
	}
	preload(t, src.Client(), 1000)
	// The other added database: enough ranges that kills land mid-copy
	// (ObjectID _ids: the test server finds them by index).
	items := src.Client().Database("big").Collection("items")
	for i := 0; i < 4000+2000*rounds; i += 500 {
		docs := make([]any, 500)
		for j := range docs {
			docs[j] = bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "n", Value: i + j}, {Key: "tags", Value: bson.A{"x", i + j}}}
		}
		if _, err := items.InsertMany(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	sections := strings.Replace(strings.Replace(testsync.SyncSections, "workers = 3", "workers = 1", 1), "batch_docs = 200", "batch_docs = 100", 1)
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, sections)
	stop := make(chan struct{})
	load := writeLoad(t, src.Client(), 4, stop)
	stopHostile := hostileLoad(t, src.Client(), hostileSeed(t))
	defer func() {
		if t.Failed() {
			hostileDiff(t, src.Client(), dst.Client())
		}
	}()

	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 5*time.Minute, "destination is consistent: the applier has passed")
	if err := p.term(t); err != nil {
		t.Fatalf("first run: %v", err)
	}
	var logs strings.Builder
	logs.WriteString(p.output())

	conf = testsync.WriteConfig(t, dir, src.URI, dst.URI, strings.Replace(testsync.WithHostile(sections), "dbs = [ ", `dbs = [ { db = "big" }, `, 1))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 28))
	copyKills, catchUpKills := 0, 0
	for round := 0; copyKills < rounds; round++ {
		if round > 10*rounds {
			t.Fatalf("no %d kills during the addition's copy in %d rounds (got %d)", rounds, 10*rounds, copyKills)
		}
		p := start(t, "sync", "-f", conf, "--log-level", "debug")
		p.waitLog(t, 3*time.Minute, "range copied")
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		killRunning(t, p, "during the addition's copy")
		out := p.output()
		logs.WriteString(out)
		if strings.Contains(out, "the namespaces added to sync.dbs are copied") {
			t.Fatalf("the addition's copy finished after only %d kills during it: make it longer", copyKills)
		}
		if !strings.Contains(out, "copying the namespaces added to sync.dbs") {
			t.Fatalf("the run copied no added namespace:\n%s", tail(out, 40))
		}
		copyKills++
	}
	// During the catch-up: kill soon after the added namespaces' applier
	// starts (the copy's end is recorded), until a run joins the two.
	for round := 0; round < rounds; round++ {
		p := start(t, "sync", "-f", conf)
		p.waitLog(t, 5*time.Minute, "component=applier-added")
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		killRunning(t, p, "during the addition's catch-up")
		out := p.output()
		logs.WriteString(out)
		if strings.Contains(out, "have joined the rest") {
			break
		}
		catchUpKills++
	}
	p = start(t, "sync", "-f", conf)
	p.waitLog(t, 5*time.Minute, "applier starting")
	time.Sleep(5 * time.Second)
	close(stop)
	load.Wait()
	stopHostile()
	verifyEventually(t, conf, 5*time.Minute)
	if err := p.term(t); err != nil {
		t.Fatalf("last run: %v", err)
	}
	all := logs.String() + p.output()
	if stops := stoppedOnError(all); len(stops) > 0 {
		t.Errorf("a run stopped on an error:\n%s", strings.Join(stops, "\n"))
	}
	if !strings.Contains(all, "have joined the rest") {
		t.Errorf("the addition never joined the rest:\n%s", tail(all, 60))
	}
	if !strings.Contains(all, "already copied: skipped") {
		t.Errorf("no restart skipped already-copied ranges of the addition")
	}
	t.Logf("kill -9 of an online addition: %d during its copy, %d during its catch-up; verify passes", copyKills, catchUpKills)
}
