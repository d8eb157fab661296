package preflight

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// testConfig is a config for src and dst with its spool and state file in
// a test directory; extra is TOML appended.
func testConfig(t *testing.T, src, dst, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "conf.toml")
	body := "[src]\nuri = \"" + src + "\"\n[dst]\nuri = \"" + dst + "\"\n[spool]\ndir = \"" + filepath.Join(dir, "spool") +
		"\"\n[store]\npath = \"" + filepath.Join(dir, "state.db") + "\"\n" + extra
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// insertPosts writes n documents with ObjectID _ids into db.posts.
func insertPosts(t *testing.T, c *mongo.Client, db string, n int) {
	t.Helper()
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "n", Value: i}, {Key: "body", Value: strings.Repeat("x", 500)}}
	}
	if _, err := c.Database(db).Collection("posts").InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, cfg *config.Config, opts Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Second
	}
	r := Run(ctx, cfg, opts)
	var b strings.Builder
	r.WriteText(&b)
	t.Logf("check:\n%s", b.String())
	return r
}

// want asserts that the check named check has status st.
func want(t *testing.T, r *Report, check string, st Status, detail string) {
	t.Helper()
	for _, res := range r.Results {
		if res.Check == check {
			if res.Status != st || !strings.Contains(res.Detail, detail) {
				t.Errorf("%s: %s %q, want %s with %q", check, res.Status, res.Detail, st, detail)
			}
			return
		}
	}
	t.Errorf("no check %s", check)
}

func fails(r *Report) []string {
	var out []string
	for _, res := range r.Results {
		if res.Status == Fail {
			out = append(out, res.Check+": "+res.Detail)
		}
	}
	return out
}

// A clean setup: nothing fails, and check wrote nothing anywhere: no
// marker database on either side, no state file, no spool.
func TestRun_CleanSetupWritesNothing(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 50)
	cfg := testConfig(t, src.URI, dst.URI, "")
	r := run(t, cfg, Options{})
	if f := fails(r); len(f) > 0 {
		t.Errorf("a clean setup failed: %v", f)
	}
	want(t, r, "source.oplog.window", OK, "oldest entry")
	want(t, r, "source.oplog.rate", OK, "entries/s")
	want(t, r, "source.majority", OK, "majority")
	want(t, r, "source.selection", OK, "blog.posts")
	want(t, r, "source.privileges", OK, "authentication off")
	want(t, r, "destination.privileges", OK, "authentication off")
	want(t, r, "deployment.same", OK, "two deployments")
	want(t, r, "source.data_size", OK, "50 documents")
	want(t, r, "copy.estimate", OK, "20.0 MiB/s")
	want(t, r, "source.bypassWriteBlockingMode", Unknown, "CommandNotFound")
	for _, c := range []*mongo.Client{src.Client(), dst.Client()} {
		dbs, err := c.ListDatabaseNames(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dbs {
			if d == config.ReservedDB {
				t.Errorf("check wrote database %s", d)
			}
		}
	}
	for _, p := range []string{cfg.Store.Path, cfg.Spool.Dir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("check created %s (%v)", p, err)
		}
	}
	if n := countOf(t, dst.Client(), "blog", "posts"); n != 0 {
		t.Errorf("destination has %d documents", n)
	}
}

func countOf(t *testing.T, c *mongo.Client, db, coll string) int64 {
	t.Helper()
	n, err := c.Database(db).Collection(coll).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRun_NoOplog(t *testing.T) {
	src, dst := testmongo.StartSource(t, "-no-oplog"), testmongo.StartDest(t)
	if src.Real {
		t.Skip("needs the test server's -no-oplog")
	}
	r := run(t, testConfig(t, src.URI, dst.URI, ""), Options{})
	want(t, r, "source.oplog", Fail, "no local.oplog.rs")
	if !r.Failed() {
		t.Error("Failed() is false")
	}
}

// A non-empty destination collection is what the copy refuses
// (copier.ErrNotEmpty) unless sync.drop_existing; one the state file has
// started copying is not.
func TestRun_NonEmptyDestination(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 5)
	insertPosts(t, dst.Client(), "blog", 3)
	r := run(t, testConfig(t, src.URI, dst.URI, ""), Options{})
	want(t, r, "destination.empty", Fail, "blog.posts holds 3 documents")

	r = run(t, testConfig(t, src.URI, dst.URI, "[sync]\ndrop_existing = true\n"), Options{})
	want(t, r, "destination.empty", Warn, "the copy drops blog.posts (3 documents)")

	cfg := testConfig(t, src.URI, dst.URI, "")
	st, err := store.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSplit("blog.posts", bson.Raw{5, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = run(t, cfg, Options{})
	want(t, r, "destination.empty", OK, "no selected destination collection")
}

// spool.max_bytes below what the copy's estimate spools is a fail.
func TestRun_SpoolMaxBytes(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 200)
	cfg := testConfig(t, src.URI, dst.URI, "")
	cfg.Spool.SegmentMaxBytes, cfg.Spool.MaxBytes = 64<<10, 128<<10
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	// At 1 KiB/s the copy of 200 documents takes minutes, while the oplog
	// grew by 200 entries in about a second.
	r := run(t, cfg, Options{CopyRate: 1 << 10})
	want(t, r, "spool.max_bytes", Fail, "spool.max_bytes 128KiB is less than")
	// The same at the default rate fits.
	r = run(t, cfg, Options{})
	want(t, r, "spool.max_bytes", OK, "holds the estimate")
}

// A shard of src.shards that does not answer is a fail naming it; the
// shard that answers is checked.
func TestRun_UnreachableShard(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	if src.Real {
		t.Skip("lists the test server as a shard")
	}
	insertPosts(t, src.Client(), "blog", 5)
	cfg := testConfig(t, "", dst.URI, "")
	cfg.Src = config.Mongo{Shards: []string{src.URI, "mongodb://127.0.0.1:1/?replicaSet=gone"}}
	r := run(t, cfg, Options{Timeout: 2 * time.Second})
	want(t, r, "shard gone.reachable", Fail, "does not answer")
	var name string
	for _, res := range r.Results {
		if strings.HasSuffix(res.Check, ".reachable") && strings.HasPrefix(res.Check, "shard ") && res.Status == OK {
			name = strings.TrimSuffix(res.Check, ".reachable")
		}
	}
	if name == "" {
		t.Fatal("the reachable shard is not reported")
	}
	want(t, r, name+".oplog.window", OK, "oldest entry")
	want(t, r, name+".sharded_collections", OK, "no selected collection is sharded")
	want(t, r, name+".selection", OK, "blog.posts")
}

// Source and destination one deployment through another host string
// (127.0.0.1 and localhost): a fail without renames, a warning with
// renames that read nothing written.
func TestRun_SameDeployment(t *testing.T) {
	src := testmongo.StartSource(t)
	if src.Real {
		t.Skip("rewrites the test server's host string")
	}
	insertPosts(t, src.Client(), "blog", 5)
	alias := strings.Replace(src.URI, "127.0.0.1", "localhost", 1)
	r := run(t, testConfig(t, src.URI, alias, ""), Options{})
	want(t, r, "deployment.same", Fail, "one deployment")
	r = run(t, testConfig(t, src.URI, alias, "[sync]\ndbs = [{db = \"blog\", rename_db = \"blog2\"}]\n"), Options{})
	want(t, r, "deployment.same", Warn, "one deployment")
}

// A state file recorded for another source is a fail naming both.
func TestRun_StateOfAnotherSource(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	cfg := testConfig(t, src.URI, dst.URI, "")
	st, err := store.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetBinding(store.Binding{StateID: "s1", Source: "rs:other/0123456789abcdef01234567", SourceName: "mongodb://other/"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := run(t, cfg, Options{})
	want(t, r, "source.state", Fail, "mongodb://other/")
}

// Special namespaces get a line each saying what mongo-sync does with them:
// here a capped collection and an index the test server builds (a 2d
// geospatial one); a feature it refuses is left out with its reason.
func TestRun_Specials(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	ctx := context.Background()
	db := src.Client().Database("shop")
	if err := db.CreateCollection(ctx, "log", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("places").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "loc", Value: "2d"}}}); err != nil {
		t.Logf("the test server refuses a 2d index (%v): not checked", err)
	}
	r := run(t, testConfig(t, src.URI, dst.URI, ""), Options{})
	want(t, r, "source.special shop.log", OK, "capped")
	if idx, _ := indexKinds(ctx, db.Collection("places")); len(idx.geo) > 0 {
		want(t, r, "source.special shop.places", OK, "geospatial indexes (loc_2d)")
	}
}
