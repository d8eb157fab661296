package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// load writes random inserts, updates (several operators), replacements
// and deletes to two collections until stop is closed or n ops are done.
func load(t *testing.T, db *mongo.Database, seed uint64, n int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 99))
	colls := []*mongo.Collection{db.Collection("orders"), db.Collection("users")}
	for i := 0; i < n; i++ {
		c := colls[rng.IntN(2)]
		id := rng.IntN(60)
		var err error
		switch k := rng.IntN(10); {
		case k < 4:
			_, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: i}, {Key: "tags", Value: bson.A{"a", i}}}}}, options.UpdateOne().SetUpsert(true))
		case k < 6:
			_, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "count", Value: 1}}}, {Key: "$unset", Value: bson.D{{Key: "tags", Value: ""}}}})
		case k < 8:
			_, err = c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "name", Value: "r" + string(rune('a'+i%26))}, {Key: "sub", Value: bson.D{{Key: "x", Value: i}}}}, options.Replace().SetUpsert(true))
		case k < 9:
			_, err = c.InsertOne(ctx, bson.D{{Key: "_id", Value: 1000 + i}, {Key: "fresh", Value: true}})
		default:
			_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		}
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			t.Errorf("load op %d: %v", i, err)
			return
		}
	}
}

// waitSame waits until the two databases hold the same documents.
func waitSame(t *testing.T, src, dst *mongo.Database, d time.Duration) {
	t.Helper()
	var a, b []string
	deadline := time.Now().Add(d)
	for {
		ok := true
		for _, c := range []string{"orders", "users"} {
			a, b = docs(t, src.Collection(c)), docs(t, dst.Collection(c))
			if !same(a, b) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination differs from source after %s:\nsource %d docs, destination %d docs\nsrc: %.600s\ndst: %.600s", d, len(a), len(b), strings.Join(a, " "), strings.Join(b, " "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLiveSync_ApplierKillNine: reader and applier run as separate
// processes under a random write load; the applier is killed with SIGKILL
// at random moments; the destination ends equal to the source.
func TestLiveSync_ApplierKillNine(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "")
	rd := start(t, "reader", "-f", conf, "--start-optime", nowOptime())
	waitFor(t, 30*time.Second, "the reader to start", func() bool { return strings.Contains(rd.output(), "starting at") })

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); load(t, src.Client().Database("shop"), uint64(time.Now().UnixNano()), 600) }()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	kills := 0
	for loading := true; loading || kills < 10; kills++ {
		ap := start(t, "applier", "-f", conf)
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		ap.kill9()
		select {
		case <-done:
			loading = false
		default:
		}
	}
	ap := start(t, "applier", "-f", conf)
	// Up before the comparison: when the killed appliers left nothing to
	// apply, the comparison passes at once, and a SIGTERM that came before
	// the process set up its signal handling would end it by the signal.
	ap.waitLog(t, 30*time.Second, "applier starting")
	waitSame(t, src.Client().Database("shop"), dst.Client().Database("shop"), 90*time.Second)
	if err := ap.term(t); err != nil {
		t.Fatalf("applier exit on SIGTERM: %v\n%s", err, ap.output())
	}
	if err := rd.term(t); err != nil {
		t.Fatalf("reader exit on SIGTERM: %v\n%s", err, rd.output())
	}
	t.Logf("%d kill -9 of the applier under load; destination equals source", kills)
}

// TestLiveSync_DestinationOutage: the destination is killed with SIGKILL
// while writes continue, and comes back on the same data; the applier keeps
// retrying and everything written meanwhile arrives.
func TestLiveSync_DestinationOutage(t *testing.T) {
	src, dst := testmongod2(t)
	dir := t.TempDir()
	// A short server selection timeout: with the default (15 s) a write
	// may simply wait out a 3 s outage in server selection and never fail.
	sep := "?"
	if strings.Contains(dst.URI, "?") {
		sep = "&"
	}
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI+sep+"serverSelectionTimeoutMS=500", "")
	rd := start(t, "reader", "-f", conf, "--start-optime", nowOptime())
	ap := start(t, "applier", "-f", conf)
	sdb, ddb := src.Client().Database("shop"), dst.Client().Database("shop")
	load(t, sdb, 1, 100)
	waitSame(t, sdb, ddb, 60*time.Second)

	dst.Kill()
	load(t, sdb, 2, 200)
	time.Sleep(3 * time.Second) // the applier meets a dead destination
	select {
	case <-ap.exited:
		t.Fatalf("applier exited while the destination was down:\n%s", ap.output())
	default:
	}
	dst.Restart()
	waitSame(t, sdb, dst.Client().Database("shop"), 90*time.Second)
	if !strings.Contains(ap.output(), "retrying") {
		t.Errorf("the applier never said it was retrying:\n%s", ap.output())
	}
	ap.term(t)
	rd.term(t)
}

func testmongod2(t *testing.T) (*testmongo.Server, *testmongo.Server) {
	src := testmongo.StartSource(t)
	dst := testmongo.StartDest(t)
	if dst.Real {
		t.Skip("the outage test kills the destination: it needs the test server, not MONGO_SYNC_TEST_DST")
	}
	return src, dst
}

// TestApplier_UnknownOpStops: an entry the applier does not know stops it
// with an error naming seq, ts and ns; the entry stays in the spool; nothing
// after it is applied, on every restart.
func TestApplier_UnknownOpStops(t *testing.T) {
	dst := testmongo.StartDest(t)
	dir := t.TempDir()
	sp := filepath.Join(dir, "spool")
	var buf bytes.Buffer
	for i, e := range []bson.D{
		{{Key: "op", Value: "i"}, {Key: "ns", Value: "app.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}},
		{{Key: "op", Value: "x"}, {Key: "ns", Value: "app.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: 2}}}},
		{{Key: "op", Value: "i"}, {Key: "ns", Value: "app.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: 3}}}},
	} {
		e = append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}}, e...)
		raw, _ := bson.Marshal(e)
		buf.Write(raw)
	}
	f := filepath.Join(dir, "oplog.bson")
	os.WriteFile(f, buf.Bytes(), 0o600)
	if out, err := run(t, "reader", "--spool-dir", sp, "--src-file", f); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for round := 0; round < 2; round++ {
		out, err := run(t, "applier", "--spool-dir", sp, "--store", filepath.Join(dir, "state.db"), "--dst", dst.URI, "--exit-when-drained")
		for _, want := range []string{"seq 2", "ts 1700000000,2", "ns app.c", `unknown op "x"`} {
			if err == nil || !strings.Contains(out, want) {
				t.Fatalf("round %d: applier exit %v, want an error with %q:\n%s", round, err, want, out)
			}
		}
	}
	c := dst.Client().Database("app").Collection("c")
	if n, _ := c.CountDocuments(context.Background(), bson.D{}); n != 1 {
		t.Fatalf("destination holds %d documents, want only the one before the bad entry", n)
	}
	out, err := run(t, "spool", "dump", "--spool-dir", sp, "--from-seq", "2", "--limit", "1")
	if err != nil || !strings.Contains(out, `"op":"x"`) {
		t.Fatalf("the bad entry is no longer in the spool: %v\n%s", err, out)
	}
}
