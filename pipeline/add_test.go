package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// insertN inserts n documents with ObjectID _ids (the test server finds
// those by index) into db.coll, numbered from first.
func insertN(t *testing.T, c *mongo.Client, db, coll string, first, n int) {
	t.Helper()
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "n", Value: first + i}, {Key: "tags", Value: bson.A{"a", first + i}}}
	}
	if _, err := c.Database(db).Collection(coll).InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

// inProcess runs a pipeline stage (Sync, Read, Apply) in the test's
// process, one at a time, logging into hook.
type inProcess struct {
	t    *testing.T
	hook *logtest.Hook
	done chan error // the running stage's result
}

// logged reports whether a message containing msg was logged.
func (p *inProcess) logged(msg string) bool {
	for _, e := range p.hook.AllEntries() {
		if strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}

// start runs f until the returned stop cancels it; stop returns f's error.
func (p *inProcess) start(f func(ctx context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	p.done = make(chan error, 1)
	go func() { p.done <- f(ctx) }()
	return func() error { cancel(); return <-p.done }
}

// waitFor polls ok until it holds, failing the test after d or when the
// running stage ends first.
func (p *inProcess) waitFor(what string, d time.Duration, ok func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		select {
		case err := <-p.done:
			p.t.Fatalf("the process ended (%v) before %s; log:\n%s", err, what, logTail(p.hook, 30))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s within %s; log:\n%s", what, d, logTail(p.hook, 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A database added to sync.dbs between two runs of a sync (issue 28's
// operator: blog.posts had 44 documents on the source and 11 on the
// destination, silently). The second run copies blog before its applier
// goes on, with writes to both databases during that copy, and ends equal
// to the source by a comparison that uses none of mongo-sync's code.
// shop.late, created after the first copy and filled by the applier, is
// not copied again (the copy would refuse its non-empty destination).
func TestSync_DatabaseAddedIsCopiedOnline(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertN(t, src.Client(), "shop", "orders", 0, 300)
	insertN(t, src.Client(), "blog", "posts", 0, 30)
	dir := t.TempDir()
	log, hook := logtest.NewNullLogger()
	p := &inProcess{t: t, hook: hook}
	logged := p.logged
	waitFor := p.waitFor
	run := func(dbs string, more ...string) (*status.Recorder, func() error) {
		cfg, err := config.Load(testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = ["+dbs+"]\n"+strings.Join(more, "\n")+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		rec := status.New("sync")
		return rec, p.start(func(ctx context.Context) error { return Sync(ctx, cfg, "", rec, log) })
	}
	count := func(c *mongo.Client, db, coll string) int64 {
		n, err := c.Database(db).Collection(coll).CountDocuments(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	rec, stop := run(`{ db = "shop" }`)
	waitFor("consistent destination", 120*time.Second, func() bool { return rec.Snapshot().Consistent })
	insertN(t, src.Client(), "shop", "late", 0, 5) // after the copy: the applier creates and fills it
	insertN(t, src.Client(), "blog", "posts", 30, 3)
	waitFor("shop.late on the destination", 60*time.Second, func() bool { return count(dst.Client(), "shop", "late") == 5 })
	if err := stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if n := count(dst.Client(), "blog", "posts"); n != 0 {
		t.Fatalf("blog was not selected, yet the destination holds %d of its posts", n)
	}

	insertN(t, src.Client(), "blog", "posts", 33, 11) // 44 on the source
	insertN(t, src.Client(), "shop", "orders", 300, 20)
	rec, stop = run(`{ db = "shop" }, { db = "blog" }`)
	for i := 0; i < 10; i++ { // writes to both during the added database's copy
		insertN(t, src.Client(), "blog", "posts", 44+10*i, 10)
		insertN(t, src.Client(), "shop", "orders", 320+10*i, 10)
		time.Sleep(100 * time.Millisecond)
	}
	waitFor("a consistent destination after the addition", 180*time.Second, func() bool { return rec.Snapshot().Consistent })
	dbs := map[string]string{"shop": "shop", "blog": "blog"}
	waitFor("destination equal to the source", 120*time.Second, func() bool {
		return testsync.DiffUnion(t, []*mongo.Client{src.Client()}, dst.Client(), dbs, func(string, ...any) {}) == 0
	})
	if err := stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := testsync.IndependentDiff(t, src.Client(), dst.Client(), dbs); n != 0 {
		t.Fatalf("%d differences between source and destination", n)
	}
	if n := count(dst.Client(), "blog", "posts"); n != 144 {
		t.Fatalf("blog.posts: %d documents on the destination, want the source's 144", n)
	}
	if !logged("copying the namespaces added to sync.dbs") || !logged("the namespaces added to sync.dbs are copied") {
		t.Errorf("the addition's copy was not logged; log:\n%s", logTail(hook, 30))
	}
	cfg, err := config.Load(testsync.WriteConfig(t, dir, src.URI, dst.URI, ""))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if b, _, err := st.Binding(); err != nil || b.AddingFrom != "" {
		t.Fatalf("the addition is still recorded as under way after its copy: %+v, %v", b, err)
	}
	st.Close()

	// blog removed, written to, added back: copied afresh, not skipped as
	// copied long ago, so its stale destination is refused until --drop;
	// meanwhile the applier alone refuses the unfinished addition.
	rec, stop = run(`{ db = "shop" }`)
	waitFor("the removal logged", 60*time.Second, func() bool { return logged("no longer selects these") })
	if err := stop(); err != nil {
		t.Fatalf("third run: %v", err)
	}
	insertN(t, src.Client(), "blog", "posts", 144, 5)
	_, stop = run(`{ db = "shop" }, { db = "blog" }`)
	select {
	case err := <-p.done:
		if err == nil || !strings.Contains(err.Error(), "blog.posts holds 144 documents") {
			t.Fatalf("blog added back over its stale destination: %v, want it refused as not empty", err)
		}
	case <-time.After(120 * time.Second):
		stop()
		t.Fatal("blog added back over its stale destination was not refused")
	}
	both, err := config.Load(testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{ db = \"shop\" }, { db = \"blog\" }]\n"))
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // without the refusal it applies until then
	defer cancel()
	if err := Apply(actx, both, ApplyOptions{}, status.New("applier"), log); err == nil || !strings.Contains(err.Error(), "whose copy has not finished") {
		t.Fatalf("the applier alone during an unfinished addition: %v", err)
	}
	rec, stop = run(`{ db = "shop" }, { db = "blog" }`, "drop_existing = true")
	waitFor("a consistent destination after blog came back", 180*time.Second, func() bool { return rec.Snapshot().Consistent })
	waitFor("destination equal to the source", 120*time.Second, func() bool {
		return testsync.DiffUnion(t, []*mongo.Client{src.Client()}, dst.Client(), dbs, func(string, ...any) {}) == 0
	})
	if err := stop(); err != nil {
		t.Fatalf("last run: %v", err)
	}
}

// The spool of the old selection holds an added database's transactions
// (applyOps on admin.$cmd is spooled whatever the selection) but not its
// plain writes. Replayed over the added database's copy, a transaction's
// older value would win over the plain update that followed it, which the
// spool lacks. So the addition refills the spool from the state's position
// with the new selection. The source's oplog gets the transaction as mongod
// logs a small unprepared one ({op: c, ns: admin.$cmd, o: {applyOps: [...]},
// lsid, txnNumber}; the test server has no transactions), and its
// document the plain update after it.
func TestSync_DatabaseAddedAfterItsTransactionWasSpooled(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	src.RequireTestServer(t, "inserts a transaction's entry into local.oplog.rs, which a replica set forbids")
	ctx := context.Background()
	insertN(t, src.Client(), "shop", "orders", 0, 10)
	x := bson.NewObjectID()
	posts := src.Client().Database("blog").Collection("posts")
	if _, err := posts.InsertOne(ctx, bson.D{{Key: "_id", Value: x}, {Key: "title", Value: "first"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log, hook := logtest.NewNullLogger()
	load := func(dbs string) *config.Config {
		cfg, err := config.Load(testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = ["+dbs+"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	p := &inProcess{t: t, hook: hook}
	waitFor, start := p.waitFor, p.start

	old := load(`{ db = "shop" }`)
	rec := status.New("sync")
	stop := start(func(ctx context.Context) error { return Sync(ctx, old, "", rec, log) })
	waitFor("consistent destination", 120*time.Second, func() bool { return rec.Snapshot().Consistent })
	if err := stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}

	// The reader alone spools, with the old selection, what happens next:
	// a transaction sets the post's title, a plain update sets it again.
	stop = start(func(ctx context.Context) error { return Read(ctx, old, "", "", status.New("reader"), log) })
	time.Sleep(1100 * time.Millisecond) // the transaction's ts: above every entry so far, below every later one
	txnTS := bson.Timestamp{T: uint32(time.Now().Unix()), I: 1 << 20}
	if _, err := src.Client().Database("local").Collection("oplog.rs").InsertOne(ctx, bson.D{
		{Key: "lsid", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}},
		{Key: "txnNumber", Value: int64(1)}, {Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"},
		{Key: "o", Value: bson.D{{Key: "applyOps", Value: bson.A{bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: "blog.posts"},
			{Key: "o", Value: bson.D{{Key: "_id", Value: x}, {Key: "title", Value: "in a transaction"}}}, // a replacement (the test server stores no $-keys)
			{Key: "o2", Value: bson.D{{Key: "_id", Value: x}}}}}}}},
		{Key: "ts", Value: txnTS}, {Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)}, {Key: "wall", Value: bson.NewDateTimeFromTime(time.Now())},
		{Key: "prevOpTime", Value: bson.D{{Key: "ts", Value: bson.Timestamp{}}, {Key: "t", Value: int64(-1)}}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := posts.UpdateOne(ctx, bson.D{{Key: "_id", Value: x}}, bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: "after it"}}}}); err != nil {
		t.Fatal(err)
	}
	insertN(t, src.Client(), "shop", "orders", 10, 1) // spooled once the reader passed the update
	waitFor("the transaction in the old selection's spool", 60*time.Second, func() bool {
		st, err := spool.ReadStat(old.Spool.Dir)
		return err == nil && txnTS.Before(st.NewestTS)
	})
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}

	rec = status.New("sync")
	stop = start(func(ctx context.Context) error {
		return Sync(ctx, load(`{ db = "shop" }, { db = "blog" }`), "", rec, log)
	})
	waitFor("a consistent destination after the addition", 120*time.Second, func() bool { return rec.Snapshot().Consistent })
	dbs := map[string]string{"shop": "shop", "blog": "blog"}
	deadline := time.Now().Add(30 * time.Second)
	for testsync.DiffUnion(t, []*mongo.Client{src.Client()}, dst.Client(), dbs, func(string, ...any) {}) != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := testsync.IndependentDiff(t, src.Client(), dst.Client(), dbs); n != 0 {
		t.Fatalf("%d differences between source and destination; log:\n%s", n, logTail(hook, 12))
	}
}

// TestSync_AdditionLeavesTheRestLive: while the namespaces added to
// sync.dbs are copied, the rest is applied (issue 28: "copied online while
// the live sync of the rest goes on"). The copy is held at its start
// (addedCopyHook) while the test writes:
//   - orders inserted then reach the destination, and the added
//     collections' writes do not (their copy has not run);
//   - a rename from shop.moved (synced before) into shop.target (added)
//     names both sides: the applier of the rest stops before it, so orders
//     inserted after it wait too;
//
// then the copy goes on, the added namespaces catch up, the two appliers
// join, and the destination ends equal to the source by a comparison that
// uses none of mongo-sync's code.
func TestSync_AdditionLeavesTheRestLive(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	ctx := context.Background()
	insertN(t, src.Client(), "shop", "orders", 0, 50)
	insertN(t, src.Client(), "shop", "moved", 0, 20)
	insertN(t, src.Client(), "shop", "extra", 0, 30) // added: selected by the whole database only
	insertN(t, src.Client(), "blog", "posts", 0, 40)
	dir := t.TempDir()
	log, hook := logtest.NewNullLogger()
	p := &inProcess{t: t, hook: hook}
	logged := p.logged
	run := func(dbs string) (*status.Recorder, func() error) {
		cfg, err := config.Load(testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = ["+dbs+"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		rec := status.New("sync")
		return rec, p.start(func(ctx context.Context) error { return Sync(ctx, cfg, "", rec, log) })
	}
	count := func(c *mongo.Client, db, coll string, filter bson.D) int64 {
		n, err := c.Database(db).Collection(coll).CountDocuments(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	rec, stop := run(`{ db = "shop", colls = [ { coll = "orders" }, { coll = "moved" } ] }`)
	p.waitFor("consistent destination", 120*time.Second, func() bool { return rec.Snapshot().Consistent })
	if err := stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}

	held, release := make(chan struct{}), make(chan struct{})
	addedCopyHook = func(ctx context.Context) {
		close(held)
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	defer func() { addedCopyHook = func(context.Context) {} }()
	rec, stop = run(`{ db = "shop" }, { db = "blog" }`)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
		stop()
	}()
	p.waitFor("the added namespaces' copy to start", 60*time.Second, func() bool {
		select {
		case <-held:
			return true
		default:
			return false
		}
	})
	insertN(t, src.Client(), "shop", "orders", 50, 10)
	insertN(t, src.Client(), "blog", "posts", 40, 5)
	insertN(t, src.Client(), "shop", "extra", 30, 5)
	p.waitFor("the orders inserted during the copy on the destination", 60*time.Second, func() bool {
		return count(dst.Client(), "shop", "orders", bson.D{}) == 60
	})
	if snap := rec.Snapshot(); snap.Consistent || snap.Stage != string(store.StageCopying) {
		t.Errorf("status during the addition's copy: stage %q, consistent %v; want copying, not consistent", snap.Stage, snap.Consistent)
	}
	for _, ns := range [][2]string{{"blog", "posts"}, {"shop", "extra"}} {
		if n := count(dst.Client(), ns[0], ns[1], bson.D{}); n != 0 {
			t.Fatalf("%s.%s holds %d documents before its copy ran", ns[0], ns[1], n)
		}
	}

	if err := src.Client().Database("admin").RunCommand(ctx, bson.D{{Key: "renameCollection", Value: "shop.moved"}, {Key: "to", Value: "shop.target"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if src.TestServer {
		// The test server logs no command: the entry goes into its oplog
		// as mongod logs a rename within a database (mongodb/mongo
		// src/mongo/db/op_observer/op_observer_impl.cpp,
		// onRenameCollection: renameCollection, to, stayTemp, and
		// dropTarget only when a target was dropped), between the writes
		// before it and after it.
		time.Sleep(1100 * time.Millisecond)
		if _, err := src.Client().Database("local").Collection("oplog.rs").InsertOne(ctx, bson.D{
			{Key: "op", Value: "c"}, {Key: "ns", Value: "shop.$cmd"},
			{Key: "o", Value: bson.D{{Key: "renameCollection", Value: "shop.moved"}, {Key: "to", Value: "shop.target"}, {Key: "stayTemp", Value: false}}},
			{Key: "ts", Value: bson.Timestamp{T: uint32(time.Now().Unix()), I: 1 << 20}}, {Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)},
			{Key: "wall", Value: bson.NewDateTimeFromTime(time.Now())}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
	}
	insertN(t, src.Client(), "shop", "orders", 60, 10) // n 60..69, after the rename
	p.waitFor("the applier of the rest stopped at the rename", 60*time.Second, func() bool {
		return logged("the applier of the rest waits there")
	})
	if n := count(dst.Client(), "shop", "orders", bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 60}}}}); n != 0 {
		t.Fatalf("%d orders inserted after the rename were applied before it", n)
	}

	close(release)
	p.waitFor("a consistent destination after the addition", 180*time.Second, func() bool { return rec.Snapshot().Consistent })
	dbs := map[string]string{"shop": "shop", "blog": "blog"}
	p.waitFor("destination equal to the source", 120*time.Second, func() bool {
		return testsync.DiffUnion(t, []*mongo.Client{src.Client()}, dst.Client(), dbs, func(string, ...any) {}) == 0
	})
	if stage := rec.Snapshot().Stage; stage != string(store.StageApplied) {
		t.Errorf("status after the addition joined: stage %q, want %q", stage, store.StageApplied)
	}
	if !logged("have joined the rest") {
		t.Errorf("the join was not logged; log:\n%s", logTail(hook, 30))
	}
	if n := testsync.IndependentDiff(t, src.Client(), dst.Client(), dbs); n != 0 {
		t.Fatalf("%d differences between source and destination", n)
	}
	if n := count(dst.Client(), "shop", "target", bson.D{}); n != 20 {
		t.Fatalf("shop.target holds %d documents, want the 20 renamed into it", n)
	}
}
