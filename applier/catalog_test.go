package applier

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Collections by identity: the copy recorded each collection's UUID (the
// catalog); the window replayed over it, twice (a restart replays the
// unacknowledged tail), must leave every collection where the source has
// it, with nothing lost and no ghost left behind. The test server logs no
// DDL, so the entries are written here as MongoDB logs them (with ui).
func TestCatalog_RenamesInTheWindow(t *testing.T) {
	u0, u1, u3 := uuid(0xa0), uuid(0xa1), uuid(0xa3)
	ins := func(ts uint32, ns string, ui []byte, id int32) bson.D {
		return entry(ts, "i", ns, ui, bson.D{{Key: "_id", Value: id}})
	}
	rename := func(ts uint32, from, to string, ui []byte, dropTarget any) bson.D {
		return entry(ts, "c", "test.$cmd", ui, bson.D{{Key: "renameCollection", Value: from}, {Key: "to", Value: to},
			{Key: "stayTemp", Value: false}, {Key: "dropTarget", Value: dropTarget}})
	}
	create := func(ts uint32, coll string, ui []byte) bson.D {
		return entry(ts, "c", "test.$cmd", ui, bson.D{{Key: "create", Value: coll}})
	}
	for _, c := range []struct {
		name    string
		ns      *config.Namespaces
		catalog map[string][]byte // ns -> uuid, as the copy recorded it
		before  map[string][]int32
		oplog   []bson.D
		after   map[string][]int32 // nil slice: the collection must not exist
		// testServer, when set, is why the test server cannot run the
		// case: the one error it is skipped on there (a substring of the
		// server's message). Any other refusal fails, and so does a
		// pinned case that runs (the pin is stale); against a real
		// MongoDB nothing is skipped.
		testServer struct{ refuses, why string }
	}{
		{
			// T0 fell inside an $out: the temporary collection's first
			// documents predate the spool, the copy saw the finished
			// result. Replaying the rename by name would drop the
			// complete collection for a partial one.
			name:    "$out whose rename the copy already saw",
			catalog: map[string][]byte{"test.out": u1},
			before:  map[string][]int32{"test.out": {1, 2, 3}},
			oplog: []bson.D{
				ins(2, "test.tmp.agg_out.x", u1, 3),
				rename(3, "test.tmp.agg_out.x", "test.out", u1, bson.Binary{Subtype: 4, Data: u0}),
			},
			after: map[string][]int32{"test.out": {1, 2, 3}, "test.tmp.agg_out.x": nil},
		},
		{
			name:    "$out that happens after the copy",
			catalog: map[string][]byte{"test.out": u0},
			before:  map[string][]int32{"test.out": {7}},
			// The temporary name has no dot: the test server renames
			// no dotted names (the case below keeps MongoDB's name).
			oplog: []bson.D{
				create(1, "aggtmp", u1),
				ins(2, "test.aggtmp", u1, 1),
				ins(3, "test.aggtmp", u1, 2),
				rename(4, "test.aggtmp", "test.out", u1, bson.Binary{Subtype: 4, Data: u0}),
				ins(5, "test.out", u1, 3),
			},
			after: map[string][]int32{"test.out": {1, 2, 3}, "test.aggtmp": nil},
		},
		{
			// Two $outs in the window; the copy saw the second's result.
			// The first rename is superseded; the temporary collection
			// its replayed create made is dropped when the second
			// rename (whose dropTarget it is) is found already done.
			name:    "two $outs, the copy saw the second",
			catalog: map[string][]byte{"test.out": u3},
			before:  map[string][]int32{"test.out": {5}},
			oplog: []bson.D{
				create(1, "aggtmp1", u1),
				ins(2, "test.aggtmp1", u1, 1),
				rename(3, "test.aggtmp1", "test.out", u1, bson.Binary{Subtype: 4, Data: u0}),
				create(4, "aggtmp2", u3),
				ins(5, "test.aggtmp2", u3, 5),
				rename(6, "test.aggtmp2", "test.out", u3, bson.Binary{Subtype: 4, Data: u1}),
			},
			after: map[string][]int32{"test.out": {5}, "test.aggtmp1": nil, "test.aggtmp2": nil},
		},
		{
			name:    "rename after the copy: writes before it follow the collection",
			catalog: map[string][]byte{"test.a": u1},
			before:  map[string][]int32{"test.a": {1}},
			oplog: []bson.D{
				ins(1, "test.a", u1, 2),
				rename(2, "test.a", "test.b", u1, false),
				ins(3, "test.b", u1, 3),
			},
			after: map[string][]int32{"test.b": {1, 2, 3}, "test.a": nil},
		},
		{
			name:    "rename the copy already saw: no ghost of the old name",
			catalog: map[string][]byte{"test.b": u1},
			before:  map[string][]int32{"test.b": {1, 2, 3}},
			oplog: []bson.D{
				ins(1, "test.a", u1, 2),
				rename(2, "test.a", "test.b", u1, false),
				ins(3, "test.b", u1, 3),
			},
			after: map[string][]int32{"test.b": {1, 2, 3}, "test.a": nil},
		},
		{
			name:    "writes and drop of a collection replaced later under the same name",
			catalog: map[string][]byte{"test.c": u3},
			before:  map[string][]int32{"test.c": {9}},
			oplog: []bson.D{
				ins(1, "test.c", u0, 1),
				entry(2, "c", "test.$cmd", u0, bson.D{{Key: "drop", Value: "c"}}),
				create(3, "c", u3),
				ins(4, "test.c", u3, 9),
			},
			after: map[string][]int32{"test.c": {9}},
		},
		{
			// sync.dbs names only test.out: the temporary collection
			// of $out is synced with it, or its rename would come from
			// a namespace whose documents are unknown.
			name:    "$out with a per-collection filter",
			ns:      outOnly(t),
			catalog: map[string][]byte{"test.out": u0},
			before:  map[string][]int32{"test.out": {7}},
			oplog: []bson.D{
				create(1, "tmp.agg_out.z", u1),
				ins(2, "test.tmp.agg_out.z", u1, 1),
				rename(3, "test.tmp.agg_out.z", "test.out", u1, bson.Binary{Subtype: 4, Data: u0}),
			},
			after: map[string][]int32{"test.out": {1}, "test.tmp.agg_out.z": nil},
			// The rename from tmp.agg_out.z must be replayed: the copy
			// saw neither collection. TestCatalog_OutWithFilterTranslates
			// checks its translation instead.
			testServer: struct{ refuses, why string }{"renameCollection: (InvalidNamespace) Invalid namespace specified 'test.tmp.agg_out.z'",
				"the test server renames no collection whose name holds a dot"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := testmongo.StartDest(t)
			client := dst.Client()
			statePath, raws := copyState(t, client, c.catalog, c.before, c.oplog)
			pinned := c.testServer.refuses != "" && dst.TestServer
			for round := 1; round <= 2; round++ {
				err := applyWithCatalog(t, client, spoolOplog(t, raws), statePath, c.ns, true, nil)
				if pinned && err != nil && strings.Contains(err.Error(), c.testServer.refuses) {
					t.Skipf("pinned skip: %s (round %d: %v)", c.testServer.why, round, err)
				}
				if pinned {
					t.Fatalf("round %d: pinned to skip on the test server (%s: %q) but got %v: update the pin", round, c.testServer.why, c.testServer.refuses, err)
				}
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				for ns, want := range c.after {
					if got := ids(t, client, ns); !sameIDs(got, want) {
						t.Errorf("round %d: %s holds %v, want %v", round, ns, got, want)
					}
				}
			}
		})
	}
}

// The translation of the $out-with-a-filter case, which the test server
// cannot run (it renames no dotted names): the rename from the temporary
// collection is replayed, not refused as coming from an unsynced namespace.
func TestCatalog_OutWithFilterTranslates(t *testing.T) {
	u0, u1 := uuid(0xb0), uuid(0xb1)
	tr := translate.NewTranslator(outOnly(t))
	tr.Catalog = &memCatalog{m: map[string]string{string(u0): "test.out"}}
	var ops []exec.Op
	for i, e := range []bson.D{
		entry(1, "c", "test.$cmd", u1, bson.D{{Key: "create", Value: "tmp.agg_out.q"}}),
		entry(2, "i", "test.tmp.agg_out.q", u1, bson.D{{Key: "_id", Value: 1}}),
		entry(3, "c", "test.$cmd", u1, bson.D{{Key: "renameCollection", Value: "test.tmp.agg_out.q"}, {Key: "to", Value: "test.out"},
			{Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: u0}}}),
	} {
		var err error
		if ops, err = tr.AppendOps(ops, uint64(i+1), bson.Timestamp{T: 1, I: uint32(i)}, bsontest.MustMarshal(t, e)); err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
	}
	if len(ops) != 3 || ops[1].NS != "test.tmp.agg_out.q" || ops[2].Desc != "renameCollection" {
		t.Fatalf("ops %+v: want create, insert into the temporary collection, rename", ops)
	}
}

type memCatalog struct{ m map[string]string }

func (c *memCatalog) Collections() (map[string]string, error) { return c.m, nil }
func (c *memCatalog) SetCollection(u []byte, ns string) error { c.m[string(u)] = ns; return nil }
func (c *memCatalog) DeleteCollection(u []byte) error         { delete(c.m, string(u)); return nil }

// A crash between a rename and its catalog record (simulated by a catalog
// write that fails once the command ran): the restart must neither replay
// the batch's earlier writes under the old name (a ghost collection, or
// with dropTarget the complete collection replaced by a partial one) nor
// drop the target of a rename that already happened.
func TestCatalog_CrashBetweenRenameAndItsRecord(t *testing.T) {
	u, w := uuid(0xc1), uuid(0xc2)
	for _, c := range []struct {
		name    string
		catalog map[string][]byte
		before  map[string][]int32
		oplog   []bson.D
		failAt  string
		after   map[string][]int32
	}{
		{
			name:    "rename with dropTarget",
			catalog: map[string][]byte{"test.tmp": u, "test.out": w},
			before:  map[string][]int32{"test.tmp": {1, 2}, "test.out": {7}},
			oplog: []bson.D{
				entry(1, "i", "test.tmp", u, bson.D{{Key: "_id", Value: int32(3)}}),
				entry(2, "c", "test.$cmd", u, bson.D{{Key: "renameCollection", Value: "test.tmp"}, {Key: "to", Value: "test.out"},
					{Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: w}}}),
			},
			failAt: "test.out",
			after:  map[string][]int32{"test.out": {1, 2, 3}, "test.tmp": nil},
		},
		{
			name:    "plain rename",
			catalog: map[string][]byte{"test.a": u},
			before:  map[string][]int32{"test.a": {1}},
			oplog: []bson.D{
				entry(1, "i", "test.a", u, bson.D{{Key: "_id", Value: int32(2)}}),
				entry(2, "c", "test.$cmd", u, bson.D{{Key: "renameCollection", Value: "test.a"}, {Key: "to", Value: "test.b"}, {Key: "dropTarget", Value: false}}),
			},
			failAt: "test.b",
			after:  map[string][]int32{"test.b": {1, 2}, "test.a": nil},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := testmongo.StartDest(t).Client()
			statePath, raws := copyState(t, client, c.catalog, c.before, c.oplog)
			spoolDir := spoolOplog(t, raws)
			if err := applyWithCatalog(t, client, spoolDir, statePath, nil, false, &failingCatalog{failAt: c.failAt}); err == nil {
				t.Fatal("the run whose catalog write fails did not stop")
			}
			if err := applyWithCatalog(t, client, spoolDir, statePath, nil, false, nil); err != nil {
				t.Fatalf("restart: %v", err)
			}
			for ns, want := range c.after {
				if got := ids(t, client, ns); !sameIDs(got, want) {
					t.Errorf("after the restart %s holds %v, want %v", ns, got, want)
				}
			}
		})
	}
}

// copyState lays out what a copy left: the catalog it recorded in a new
// state file, the documents (by _id) it copied; it returns the state file
// and the window's entries as raw BSON.
func copyState(t *testing.T, client *mongo.Client, catalog map[string][]byte, before map[string][]int32, oplog []bson.D) (string, []bson.Raw) {
	t.Helper()
	ctx := context.Background()
	statePath := filepath.Join(t.TempDir(), "state.db")
	st, err := store.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	for ns, u := range catalog {
		if err := st.SetCollection(u, ns); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for ns, ids := range before {
		db, coll := config.SplitNS(ns)
		for _, id := range ids {
			if _, err := client.Database(db).Collection(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var raws []bson.Raw
	for _, e := range oplog {
		raws = append(raws, bsontest.MustMarshal(t, e))
	}
	return statePath, raws
}

// failingCatalog fails to record a collection at failAt: a crash between
// the command and its record.
type failingCatalog struct {
	translate.Catalog
	failAt string
}

func (f *failingCatalog) SetCollection(u []byte, ns string) error {
	if ns == f.failAt {
		return errors.New("simulated crash before the catalog record")
	}
	return f.Catalog.SetCollection(u, ns)
}

// applyWithCatalog drains spoolDir into client with the state file's
// catalog; rewind replays the whole window; fail, if set, wraps the
// catalog.
func applyWithCatalog(t *testing.T, client *mongo.Client, spoolDir, statePath string, ns *config.Namespaces, rewind bool, fail *failingCatalog) error {
	return runApplier(t, client, spoolDir, statePath, func(st *store.Store) *translate.Translator {
		if rewind {
			if err := st.SetCheckpoint(store.Checkpoint{}); err != nil { // replay the whole window
				t.Fatal(err)
			}
		}
		tr := translate.NewTranslator(ns)
		tr.Catalog, tr.Log = st, quietLog()
		if fail != nil {
			fail.Catalog = st
			tr.Catalog = fail
		}
		return tr
	})
}

func outOnly(t *testing.T) *config.Namespaces {
	cfg := config.Default()
	cfg.Sync.DBs = []config.DB{{DB: "test", Colls: []config.Coll{{Coll: "out"}}}}
	return cfg.Namespaces()
}

func uuid(b byte) []byte {
	u := make([]byte, 16)
	for i := range u {
		u[i] = b
	}
	return u
}

func entry(ts uint32, op, ns string, ui []byte, o bson.D) bson.D {
	e := bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700200000 + ts, I: 1}}, {Key: "t", Value: int64(1)},
		{Key: "op", Value: op}, {Key: "ns", Value: ns}}
	if ui != nil {
		e = append(e, bson.E{Key: "ui", Value: bson.Binary{Subtype: 4, Data: ui}})
	}
	return append(e, bson.E{Key: "o", Value: o})
}

// ids lists ns's _ids, nil when the collection does not exist.
func ids(t *testing.T, client *mongo.Client, ns string) []int32 {
	ctx := context.Background()
	db, coll := config.SplitNS(ns)
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		return nil
	}
	cur, err := client.Database(db).Collection(coll).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID int32 `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	out := []int32{}
	for _, d := range docs {
		out = append(out, d.ID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sameIDs(got, want []int32) bool {
	if (got == nil) != (want == nil) || len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
