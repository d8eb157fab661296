package copier

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// newCopier copies database shop from src to dst.
func newCopier(t *testing.T, src, dst *mongo.Client) *Copier {
	t.Helper()
	cfg := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop"}}}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Copier{Src: src, Dst: dst, NS: cfg.Namespaces(), Store: st, Workers: 2, BatchDocs: 100, SplitDocs: 1000,
		Progress: Discard{}, Log: testlog.Quiet()}
}

func insertDocs(t *testing.T, c *mongo.Collection, docs ...bson.D) {
	t.Helper()
	many := make([]any, len(docs))
	for i, d := range docs {
		many[i] = d
	}
	if _, err := c.InsertMany(context.Background(), many); err != nil {
		t.Fatal(err)
	}
}

// An empty destination collection with a unique index the source lacks:
// source documents that collide on it stop the copy with the index and the
// key named, instead of passing for "already copied" and being lost.
func TestCopy_UniqueSecondaryConflictNamesIndexAndKey(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"),
		bson.D{{Key: "_id", Value: 1}, {Key: "sku", Value: "apple"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "sku", Value: "pear"}},
		bson.D{{Key: "_id", Value: 3}, {Key: "sku", Value: "apple"}})
	if _, err := dst.Database("shop").Collection("orders").Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetName("sku_1").SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	err := newCopier(t, src, dst).Run(ctx)
	if !errors.Is(err, ErrUniqueConflict) {
		t.Fatalf("copy: %v, want %v", err, ErrUniqueConflict)
	}
	for _, want := range []string{"shop.orders", "sku_1", "apple", "_id 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// The copy's inserts bypass document validation, as oplog application and
// mongorestore do: the source's validator came later than some documents.
func TestCopy_BypassesDocumentValidation(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}, {Key: "qty", Value: -5}})
	err := src.Database("shop").RunCommand(ctx, bson.D{{Key: "collMod", Value: "orders"},
		{Key: "validator", Value: bson.D{{Key: "qty", Value: bson.D{{Key: "$gte", Value: 0}}}}}, {Key: "validationLevel", Value: "strict"}}).Err()
	if err != nil {
		t.Skipf("the source server refuses a validator (%v); the command's bypassDocumentValidation is checked by TestInsertTail_BypassesValidation", err)
	}
	if err := newCopier(t, src, dst).Run(ctx); err != nil {
		t.Fatalf("a document older than the validator stopped the copy: %v", err)
	}
	if n, err := dst.Database("shop").Collection("orders").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("%d documents copied (%v), want 1", n, err)
	}
}

// Every source read of the copy, and T0/copy_end (Newest), carry read
// concern majority whatever the client's default; the read preference
// (primary) is not sent to a standalone server, see
// TestSourceReads_PrimaryMajority.
func TestCopy_SourceReadsAtMajority(t *testing.T) {
	srv := testmongo.StartSource(t)
	var mu sync.Mutex
	var seen []string // "command readConcern.level"
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		switch e.CommandName {
		case "find", "aggregate", "count":
			level, _ := e.Command.Lookup("readConcern", "level").StringValueOK()
			mu.Lock()
			seen = append(seen, e.CommandName+" "+level)
			mu.Unlock()
		}
	}}
	src, err := mongo.Connect(options.Client().ApplyURI(srv.URI).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Disconnect(context.Background())
	ctx := context.Background()
	var docs []bson.D
	for i := range 30 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}})
	}
	insertDocs(t, src.Database("shop").Collection("orders"), docs...)
	c := newCopier(t, src, testmongo.StartDest(t).Client())
	c.SplitDocs = 10 // the split's reads too
	mu.Lock()
	seen = nil
	mu.Unlock()
	if _, err := Newest(ctx, src); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Newest(ctx, src); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	finds := 0
	for _, s := range seen {
		if !strings.HasSuffix(s, " majority") {
			t.Errorf("source read %q is not at read concern majority", s)
		}
		if strings.HasPrefix(s, "find") {
			finds++
		}
	}
	if finds < 3 {
		t.Errorf("only %d finds seen (%v): T0, the ranges and copy_end read the source", finds, seen)
	}
}

// A source collection reported with recordIdsReplicated (8.0+, behind a
// feature flag) or temp (a $out or convertToCapped under way) is created
// on the destination without them, other options kept: a server without
// the feature refuses the first, mongod 6.0+ and mongos the second. The test server neither
// reports nor refuses it, so the test reads the create the client sends.
func TestCreate_LeavesOutRecordIdsReplicated(t *testing.T) {
	dst, sent := testmongo.StartDest(t).Recording("create")
	opts, err := bson.Marshal(bson.D{{Key: "recordIdsReplicated", Value: true}, {Key: "capped", Value: false}, {Key: "temp", Value: true}})
	if err != nil {
		t.Fatal(err)
	}
	c := &Copier{Dst: dst}
	if err := c.create(context.Background(), &collection{dstDB: "shop", dstColl: "orders", options: opts}); err != nil {
		t.Fatal(err)
	}
	cmds := sent()
	if len(cmds) != 1 {
		t.Fatalf("%d create commands sent, want 1", len(cmds))
	}
	for _, k := range []string{"recordIdsReplicated", "temp"} {
		if _, err := cmds[0].LookupErr(k); err == nil {
			t.Fatalf("create sent with %s: %s", k, cmds[0])
		}
	}
	if cmds[0].Lookup("capped").Type == 0 {
		t.Fatalf("create lost its other options: %s", cmds[0])
	}
}

// A copy narrowed to what was added to a sync (Only) does not refuse the
// rest of the selection for a database the source no longer has: that one
// was synced before and dropped since, the applier's to follow. The whole
// copy still refuses it.
func TestCopy_NarrowedCopyIgnoresMissingDatabases(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertDocs(t, src.Client().Database("blog").Collection("posts"), bson.D{{Key: "_id", Value: bson.NewObjectID()}})
	cfg := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop"}, {DB: "blog"}}}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	c := newCopier(t, src.Client(), dst.Client())
	c.NS = cfg.Namespaces()
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `names database "shop"`) {
		t.Fatalf("the whole copy with shop missing: %v", err)
	}
	c = newCopier(t, src.Client(), dst.Client())
	c.NS = cfg.Namespaces()
	c.Only = func(ns string, _ []byte) bool { return strings.HasPrefix(ns, "blog.") }
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("the copy of blog alone: %v", err)
	}
	if n, err := dst.Client().Database("blog").Collection("posts").CountDocuments(context.Background(), bson.D{}); err != nil || n != 1 {
		t.Fatalf("blog.posts on the destination: %d, %v", n, err)
	}
}
