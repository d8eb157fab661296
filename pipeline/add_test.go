package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
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

// A database added to sync.dbs between two runs of a sync (issue 28's
// operator: blog.posts had 44 documents on the source and 11 on the
// destination, silently). The second run copies blog before its applier
// goes on, with writes to both databases during that copy, and ends equal
// to the source by a comparison that uses none of mongo-sync's code.
// shop.late, created after the first copy and filled by the applier, is
// not copied again (the copy would refuse its non-empty destination).
func TestSync_DatabaseAddedIsCopiedOnline(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	if src.Real {
		t.Skip("syncs fixed database names (blog, shop): test servers only")
	}
	insertN(t, src.Client(), "shop", "orders", 0, 300)
	insertN(t, src.Client(), "blog", "posts", 0, 30)
	dir := t.TempDir()
	log, hook := logtest.NewNullLogger()
	logged := func(msg string) bool {
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, msg) {
				return true
			}
		}
		return false
	}
	var done chan error // the running sync's result
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			select {
			case err := <-done:
				t.Fatalf("the sync ended (%v) before %s; log:\n%s", err, what, logTail(hook, 30))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s; log:\n%s", what, d, logTail(hook, 30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run := func(dbs string) (*status.Recorder, func() error) {
		cfg, err := config.Load(testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = ["+dbs+"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		rec := status.New("sync")
		ctx, cancel := context.WithCancel(context.Background())
		done = make(chan error, 1)
		go func() { done <- Sync(ctx, cfg, "", rec, log) }()
		return rec, func() error { cancel(); return <-done }
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
}
