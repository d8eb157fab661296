package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The migration story under a live workload: verify --live reports nothing
// while the workload runs, catches a document edited by hand on the
// destination, and cutover --verify full finishes once the workload stops.
func TestCutover_LiveVerifyThenCutover(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	ctx := context.Background()
	preload(t, src.Client(), 1500)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, testsync.WithHostile(testsync.SyncSections)+fmt.Sprintf("[http]\nlisten = %q\n", freeAddr(t)))
	stopLoad := hostileLoad(t, src.Client(), uint64(time.Now().UnixNano()))
	loadRunning := true
	defer func() {
		if loadRunning {
			stopLoad()
		}
	}()
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 180*time.Second, "destination is consistent")

	// Under the workload: no differences reported.
	time.Sleep(2 * time.Second)
	// verify --live re-checks hot documents for up to 8 rounds, each a wait
	// for the applier to catch up: on a test server that served many tests
	// (make test-real), the applier lags 10-15 s behind this workload.
	const liveLimit = 5 * time.Minute
	began := time.Now()
	if out, err := runWithin(t, liveLimit, "verify", "-f", conf, "--live"); err != nil || !strings.Contains(out, "no differences") {
		t.Fatalf("verify --live under the workload, after %s: %v\n%s\nsync:\n%s", time.Since(began).Round(time.Second), err, out, tail(p.output(), 30))
	} else {
		t.Logf("verify --live under the workload (%s):\n%s", time.Since(began).Round(time.Second), out)
	}

	// A document changed on the destination by hand is reported, by _id.
	users := dst.Client().Database("shop").Collection("users")
	if _, err := users.UpdateOne(ctx, bson.D{{Key: "_id", Value: "u07"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "city", Value: "edited by hand"}}}}); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	out, err := runWithin(t, liveLimit, "verify", "-f", conf, "--live")
	if err == nil || !strings.Contains(out, `1 different; first _ids: "u07"`) {
		t.Fatalf("verify --live did not report the hand edit, after %s: %v\n%s", time.Since(began).Round(time.Second), err, out)
	}
	t.Logf("verify --live reported the hand edit (%s)", time.Since(began).Round(time.Second))
	// Put it back as the source has it, for the cutover.
	var orig bson.Raw
	if err := src.Client().Database("shop").Collection("users").FindOne(ctx, bson.D{{Key: "_id", Value: "u07"}}).Decode(&orig); err != nil {
		t.Fatal(err)
	}
	if _, err := users.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "u07"}}, orig); err != nil {
		t.Fatal(err)
	}

	loadRunning = false
	stopLoad()
	out, err = run(t, "cutover", "-f", conf, "--verify", "full", "--timeout", "3m")
	if err != nil || !strings.Contains(out, "destination holds everything the source wrote up to T = ") || !strings.Contains(out, "no differences") {
		t.Fatalf("cutover: %v\n%s\nsync:\n%s", err, out, tail(p.output(), 30))
	}
	t.Logf("cutover:\n%s", out)
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	if n := testsync.IndependentDiff(t, src.Client(), dst.Client(), testsync.SyncedDBs); n != 0 {
		t.Fatalf("after cutover said the destination holds everything, an independent comparison finds %d differences", n)
	}
}

// cutover --block-writes on a server without setUserWriteBlockMode says so
// and what to do instead, before anything else.
func TestCutover_BlockWritesUnsupported(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	if !src.TestServer {
		t.Skip("MONGO_SYNC_TEST_SRC is a MongoDB, which may support setUserWriteBlockMode (see TestCutover_RealSourceBlocksWrites)")
	}
	conf := testsync.WriteConfig(t, t.TempDir(), src.URI, dst.URI, "")
	out, err := run(t, "cutover", "-f", conf, "--block-writes")
	if err == nil || !strings.Contains(out, "does not support setUserWriteBlockMode") || !strings.Contains(out, "stop the application's writes to the source yourself") {
		t.Fatalf("cutover --block-writes on the test server: %v\n%s", err, out)
	}
	if out, err := run(t, "cutover", "-f", conf, "--verify", "most"); err == nil || !strings.Contains(out, `--verify "most"`) {
		t.Fatalf("cutover --verify most: %v\n%s", err, out)
	}
}

// silentServer accepts connections and never answers: a hung server.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// --timeout bounds the whole cutover, connecting included: against a
// source that accepts and never answers, --timeout 3s ends it in seconds,
// with an error naming the wait. Before, the timeout began only after the
// connections: with a state file present, asking whether the source is a
// mongos (10 s) and then the source's own connect (15 s server selection)
// ran first, about 25 s.
func TestCutover_TimeoutBoundsConnecting(t *testing.T) {
	dir := t.TempDir()
	hung := "mongodb://" + silentServer(t) + "/?directConnection=true"
	conf := testsync.WriteConfig(t, dir, hung, hung, testsync.SyncSections)
	// A sync under way: the cutover goes on past a source that does not
	// say whether it is a mongos (sharding.OpenRouter).
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	began := time.Now()
	out, err := run(t, "cutover", "-f", conf, "--timeout", "3s", "--verify", "none")
	took := time.Since(began)
	t.Logf("cutover against a silent source, after %s: %v\n%s", took.Round(time.Millisecond), err, out)
	if err == nil || !strings.Contains(out, "--timeout expired after 3s while connecting to the source and the destination") {
		t.Fatalf("cutover --timeout 3s against a silent source: %v\n%s", err, out)
	}
	if strings.Contains(out, "destination holds everything") {
		t.Fatalf("a timed-out cutover claimed success:\n%s", out)
	}
	if took > 15*time.Second {
		t.Fatalf("cutover --timeout 3s took %s against a silent source", took)
	}
}

// A cutover that times out exits non-zero and says what is left; one killed
// with -9 while it waits, then run again once sync runs, finishes.
func TestCutover_TimeoutAndKilledThenRestarted(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	ctx := context.Background()
	preload(t, src.Client(), 500)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, testsync.SyncSections+fmt.Sprintf("[http]\nlisten = %q\n", freeAddr(t)))
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 120*time.Second, "destination is consistent")
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	// A backlog no process applies.
	orders := src.Client().Database("shop").Collection("orders")
	for i := 0; i < 300; i++ {
		if _, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: 50000 + i}, {Key: "sku", Value: "late"}}); err != nil {
			t.Fatal(err)
		}
	}

	// 10 s: the position reads come first, and on a test server that served
	// many tests (make test-real) each scans a long oplog.
	out, err := run(t, "cutover", "-f", conf, "--timeout", "10s", "--verify", "none")
	if err == nil || !strings.Contains(out, "--timeout expired") || !strings.Contains(out, "no running process reports progress") {
		t.Fatalf("cutover --timeout with nothing applying: %v\n%s", err, out)
	}
	if strings.Contains(out, "destination holds everything") {
		t.Fatalf("a timed-out cutover claimed success:\n%s", out)
	}

	c := start(t, "cutover", "-f", conf, "--verify", "full")
	c.waitLog(t, 60*time.Second, "cutover: waiting")
	killRunning(t, c, "while cutover waited")

	p = start(t, "sync", "-f", conf)
	out, err = run(t, "cutover", "-f", conf, "--verify", "full", "--timeout", "2m")
	if err != nil || !strings.Contains(out, "destination holds everything the source wrote up to T = ") {
		t.Fatalf("cutover after a kill -9: %v\n%s\nsync:\n%s", err, out, tail(p.output(), 30))
	}
	if n, _ := dst.Client().Database("shop").Collection("orders").CountDocuments(ctx, bson.D{{Key: "sku", Value: "late"}}); n != 300 {
		t.Fatalf("cutover succeeded with %d of the 300 late inserts on the destination", n)
	}
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	if n := testsync.IndependentDiff(t, src.Client(), dst.Client(), map[string]string{"shop": "shop", "crm": "crm2"}); n != 0 {
		t.Fatalf("independent comparison after cutover: %d differences", n)
	}
}

// On a real MongoDB 6.0+ source: writes are blocked during cutover, stay
// blocked after it, are unblocked by --unblock, and a cutover that fails
// unblocks what it blocked.
func TestCutover_RealSourceBlocksWrites(t *testing.T) {
	if os.Getenv("MONGO_SYNC_TEST_SRC") == "" || os.Getenv("MONGO_SYNC_TEST_DST") == "" {
		t.Skip("needs MONGO_SYNC_TEST_SRC and MONGO_SYNC_TEST_DST (real MongoDB 6.0+ replica set source): the test server has no setUserWriteBlockMode")
	}
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	if src.TestServer {
		t.Skip("MONGO_SYNC_TEST_SRC is a test server, which has no setUserWriteBlockMode: needs a MongoDB 6.0+ replica set")
	}
	ctx := context.Background()
	preload(t, src.Client(), 200)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, testsync.SyncSections+fmt.Sprintf("[http]\nlisten = %q\n", freeAddr(t)))
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 120*time.Second, "destination is consistent")
	orders := src.Client().Database("shop").Collection("orders")
	insert := func(id int) error {
		_, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: id}})
		return err
	}
	out, err := run(t, "cutover", "-f", conf, "--block-writes", "--verify", "full")
	if err != nil || !strings.Contains(out, "stay blocked") {
		t.Fatalf("cutover --block-writes: %v\n%s", err, out)
	}
	// The block proven: its position read, no user write after it.
	if !strings.Contains(out, "the block's position in the source's oplog: ") ||
		!strings.Contains(out, "no user writes to the synced namespaces reached the source after the block") {
		t.Fatalf("cutover --block-writes did not prove the block:\n%s", out)
	}
	if err := insert(900001); err == nil {
		t.Fatal("a write to the source succeeded after cutover --block-writes")
	}
	if out, err := run(t, "cutover", "-f", conf, "--block-writes", "--unblock", "--verify", "none"); err != nil || !strings.Contains(out, "unblocked") {
		t.Fatalf("cutover --unblock: %v\n%s", err, out)
	}
	if err := insert(900002); err != nil {
		t.Fatalf("a write to the source failed after --unblock: %v", err)
	}
	// A failed cutover (nothing applies the backlog) unblocks.
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	if err := insert(900003); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "cutover", "-f", conf, "--block-writes", "--timeout", "3s"); err == nil || !strings.Contains(out, "unblocked") {
		t.Fatalf("a timed-out cutover --block-writes: %v\n%s", err, out)
	}
	if err := insert(900004); err != nil {
		t.Fatalf("a write to the source failed after a failed cutover: %v", err)
	}
}
