package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The operator mistakes the state file's and the spool's binding guards
// against (they record the source, the destination and the selection they
// belong to), each as a user makes it: a sync runs until consistent, stops,
// the user changes something, and starts it again.

// insertPosts writes n documents with ObjectID _ids (the test server finds
// those by index) into db.posts and returns their _ids.
func insertPosts(t *testing.T, c *mongo.Client, db string, n int) {
	t.Helper()
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "n", Value: i}, {Key: "tags", Value: bson.A{"a", i}}}
	}
	if _, err := c.Database(db).Collection("posts").InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, c *mongo.Client, db, coll string) int64 {
	t.Helper()
	n, err := c.Database(db).Collection(coll).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatalf("count %s.%s: %v", db, coll, err)
	}
	return n
}

// syncUntilConsistent runs sync on conf until the destination is
// consistent, then stops it with SIGTERM.
func syncUntilConsistent(t *testing.T, conf string, args ...string) string {
	t.Helper()
	p := start(t, append([]string{"sync", "-f", conf}, args...)...)
	p.waitLog(t, 90*time.Second, "destination is consistent")
	if err := p.term(t); err != nil {
		t.Fatalf("sync exit on SIGTERM: %v\n%s", err, p.output())
	}
	return p.output()
}

// The destination is the source through another host string: refused with
// --drop, and not one source document changes.
func TestBinding_SameDeploymentRefused(t *testing.T) {
	src := testmongo.StartSource(t)
	insertPosts(t, src.Client(), "blog", 300)
	before := docs(t, src.Client().Database("blog").Collection("posts"))
	alias := strings.Replace(src.URI, "127.0.0.1", "localhost", 1)
	if alias == src.URI {
		t.Fatalf("cannot make another host string for %s", src.URI)
	}
	for _, sel := range []string{"", "[sync]\ndbs = [{db = \"blog\"}]\n"} {
		dir := t.TempDir()
		out, err := run(t, "sync", "-f", testsync.WriteConfig(t, dir, src.URI, alias, sel), "--drop")
		if err == nil || !strings.Contains(out, "are one deployment") || !strings.Contains(out, "refused before anything was written") {
			t.Errorf("sync into its own source (%q) was not refused: %v\n%s", sel, err, out)
		}
		if after := docs(t, src.Client().Database("blog").Collection("posts")); !same(before, after) {
			t.Fatalf("the source changed: %d documents before, %d after", len(before), len(after))
		}
	}
	// blog to blog2 inside one deployment reads nothing it writes: allowed.
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, alias, "[sync]\ndbs = [{db = \"blog\", rename_db = \"blog2\"}]\n")
	if out, err := run(t, "copy", "-f", conf); err != nil {
		t.Fatalf("copy of blog to blog2 in one deployment: %v\n%s", err, out)
	}
	if n := count(t, src.Client(), "blog2", "posts"); n != 300 {
		t.Fatalf("blog2.posts holds %d documents, want 300", n)
	}
	if after := docs(t, src.Client().Database("blog").Collection("posts")); !same(before, after) {
		t.Fatal("the copy to blog2 changed blog")
	}
}

// Another destination with the same state file: refused, naming both.
func TestBinding_AnotherDestinationRefused(t *testing.T) {
	src, dst, other := testmongo.StartSource(t), testmongo.StartDest(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 40)
	dir := t.TempDir()
	sel := "[sync]\ndbs = [{db = \"blog\"}]\n"
	syncUntilConsistent(t, testsync.WriteConfig(t, dir, src.URI, dst.URI, sel))
	insertPosts(t, src.Client(), "blog", 4)
	out, err := run(t, "sync", "-f", testsync.WriteConfig(t, dir, src.URI, other.URI, sel))
	if err == nil || !strings.Contains(out, "not into "+strings.TrimSuffix(other.URI, "/")) || !strings.Contains(out, strings.TrimSuffix(dst.URI, "/")) {
		t.Fatalf("a second destination with the same state file was not refused naming both: %v\n%s", err, out)
	}
	if n := count(t, other.Client(), "blog", "posts"); n != 0 {
		t.Fatalf("the refused destination got %d documents", n)
	}
	// The applier alone refuses it too.
	out, err = run(t, "applier", "-f", testsync.WriteConfig(t, dir, src.URI, other.URI, sel))
	if err == nil || !strings.Contains(out, "refused before anything was written") {
		t.Fatalf("applier into another destination: %v\n%s", err, out)
	}
}

// A database added to sync.dbs is refused by the commands that cannot copy
// it (the applier alone; sync copies it: pipeline's
// TestSync_DatabaseAddedIsCopiedOnline), naming it; a changed rename is
// refused by sync too; a removed one stops being applied and its
// destination data stays.
func TestBinding_SelectionChanged(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 30)
	insertPosts(t, src.Client(), "shop", 30)
	dir := t.TempDir()
	both := "[sync]\ndbs = [{db = \"blog\"}, {db = \"shop\"}]\n"
	syncUntilConsistent(t, testsync.WriteConfig(t, dir, src.URI, dst.URI, both))

	insertPosts(t, src.Client(), "crm", 5)
	out, err := run(t, "applier", "-f", testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"blog\"}, {db = \"shop\"}, {db = \"crm\"}]\n"))
	if err == nil || !strings.Contains(out, "never copied: crm") {
		t.Fatalf("an added database was not refused by name: %v\n%s", err, out)
	}
	out, err = run(t, "sync", "-f", testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"blog\", rename_db = \"blog9\"}, {db = \"shop\"}]\n"))
	if err == nil || !strings.Contains(out, "changes the rename or the fields") || !strings.Contains(out, "blog9") {
		t.Fatalf("a changed rename was not refused: %v\n%s", err, out)
	}

	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"blog\"}]\n")
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 60*time.Second, "no longer selects these")
	insertPosts(t, src.Client(), "shop", 7)
	insertPosts(t, src.Client(), "blog", 3) // after shop's: once these arrive, shop's would have
	waitFor(t, 60*time.Second, "blog's new posts", func() bool { return count(t, dst.Client(), "blog", "posts") == 33 })
	if err := p.term(t); err != nil {
		t.Fatalf("sync: %v\n%s", err, p.output())
	}
	if n := count(t, dst.Client(), "shop", "posts"); n != 30 {
		t.Fatalf("the removed database has %d documents on the destination, want its 30 (kept, no new ones)", n)
	}
}

// The spool directory removed while the state file stays: the writes made
// meanwhile all arrive, from the state's position.
func TestBinding_SpoolRemovedRefilled(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 40)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"blog\"}]\n")
	syncUntilConsistent(t, conf)
	insertPosts(t, src.Client(), "blog", 44)
	if err := os.RemoveAll(filepath.Join(dir, "spool")); err != nil {
		t.Fatal(err)
	}
	p := start(t, "sync", "-f", conf)
	p.waitLog(t, 30*time.Second, "refilling it from the source's oplog")
	waitFor(t, 60*time.Second, "the 44 writes made while the spool was gone", func() bool { return count(t, dst.Client(), "blog", "posts") == 84 })
	if err := p.term(t); err != nil {
		t.Fatalf("sync: %v\n%s", err, p.output())
	}
	if strings.Contains(p.output(), "starting at the newest oplog entry") {
		t.Errorf("the reader started at the newest entry with a checkpoint recorded:\n%s", p.output())
	}
	if out, err := run(t, "verify", "-f", conf); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// Two sources with the same replica set name are told apart: a spool of
// one is refused for the other.
func TestBinding_SameSetNameToldApart(t *testing.T) {
	a, b := testmongo.StartSource(t), testmongo.StartSource(t)
	dir := t.TempDir()
	confA := testsync.WriteConfig(t, dir, a.URI, "", "")
	p := start(t, "reader", "-f", confA)
	p.waitLog(t, 30*time.Second, "reader started")
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "reader", "-f", testsync.WriteConfig(t, dir, b.URI, "", ""))
	if err == nil || !strings.Contains(out, "holds the oplog of source rs:rs0/") {
		t.Fatalf("a spool of another replica set named rs0 was not refused: %v\n%s", err, out)
	}
}

// The spool removed under a running applier, then a separate reader
// started: it cannot read the state file the applier holds, so it refuses
// instead of starting a new spool at the newest entry (the applier would
// skip everything up to its checkpoint's seq in it). Stopped, the applier
// prepares the refill at its next start; the reader then fills it from the
// checkpoint and every write arrives.
func TestBinding_SpoolRemovedUnderRunningApplier(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 20)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "[sync]\ndbs = [{db = \"blog\"}]\n")
	syncUntilConsistent(t, conf)
	ap := start(t, "applier", "-f", conf)
	ap.waitLog(t, 30*time.Second, "applier starting")
	insertPosts(t, src.Client(), "blog", 30)
	// Its files, not the directory: the applier would stop on a directory
	// gone, and then the reader could read the state file again.
	files, err := filepath.Glob(filepath.Join(dir, "spool", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("spool files: %v %v", files, err)
	}
	for _, f := range files {
		if err := os.RemoveAll(f); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(t, "reader", "-f", conf)
	if err == nil || !strings.Contains(out, "removed or replaced under it") {
		t.Fatalf("a reader on a spool removed under a running applier: %v\n%s", err, out)
	}
	if err := ap.term(t); err != nil {
		t.Fatalf("applier: %v\n%s", err, ap.output())
	}
	ap = start(t, "applier", "-f", conf)
	ap.waitLog(t, 30*time.Second, "refilling it from the source's oplog")
	rd := start(t, "reader", "-f", conf)
	waitFor(t, 60*time.Second, "the 30 writes made around the removal", func() bool { return count(t, dst.Client(), "blog", "posts") == 50 })
	for _, p := range []*proc{rd, ap} {
		if err := p.term(t); err != nil {
			t.Fatalf("%v\n%s", err, p.output())
		}
	}
	if strings.Contains(rd.output(), "starting at the newest oplog entry") {
		t.Errorf("the reader started at the newest entry:\n%s", rd.output())
	}
}
