package applier

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Cross-shard DDL order from oplog files: two shards' oplogs, each with its
// own copy of a DDL and writes before and after it, spooled by the file
// source and replayed by two appliers into one destination, concurrently
// and each one started first (and held at its first DDL until the other
// runs). The destination must end as the source did every time; without
// the gate, one shard fully ahead of the other ends elsewhere.

type shardDDLCase struct {
	name string
	a, b []bson.D
	// want: the _ids of each namespace (nil: the collection is absent).
	want map[string][]int32
	// indexes: the index names of a namespace, sorted.
	indexes map[string][]string
	// gateless: whether A fully applied, then B, also ends right.
	gateless bool
}

func shardDDLCases() []shardDDLCase {
	u1, u2, u3, u5, u6 := uuid(1), uuid(2), uuid(3), uuid(5), uuid(6)
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	fromMigrate := func(d bson.D) bson.D { return append(d, bson.E{Key: "fromMigrate", Value: true}) }
	idx := func(name string) bson.A {
		return bson.A{bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: name[:1], Value: 1}}}, {Key: "name", Value: name}}}
	}
	build := func(ts uint32, kind, name string) bson.D {
		return entry(ts, "c", "db.$cmd", u1, bson.D{{Key: kind, Value: "c"},
			{Key: "indexBuildUUID", Value: bson.Binary{Subtype: 4, Data: uuid(byte(ts))}}, {Key: "indexes", Value: idx(name)}})
	}
	return []shardDDLCase{{
		name: "drop",
		a: []bson.D{
			entry(0, "i", "db.c", u1, id(1)),
			entry(10, "c", "db.$cmd", u1, bson.D{{Key: "drop", Value: "c"}}),
			entry(15, "c", "db.$cmd", u2, bson.D{{Key: "create", Value: "c"}}),
			entry(20, "i", "db.c", u2, id(10)),
		},
		b: []bson.D{
			entry(5, "i", "db.c", u1, id(2)),
			fromMigrate(entry(6, "i", "db.c", u1, id(3))), // skipped by the reader
			entry(11, "c", "db.$cmd", u1, bson.D{{Key: "drop", Value: "c"}}),
			fromMigrate(entry(12, "i", "db.c", u2, id(4))),
			entry(22, "i", "db.c", u2, id(11)),
		},
		want: map[string][]int32{"db.c": {10, 11}},
	}, {
		name: "rename",
		a: []bson.D{
			entry(0, "i", "db.c", u1, id(1)),
			entry(10, "c", "db.$cmd", u1, bson.D{{Key: "renameCollection", Value: "db.c"}, {Key: "to", Value: "db.d"}}),
			entry(20, "i", "db.d", u1, id(10)),
		},
		b: []bson.D{
			entry(5, "i", "db.c", u1, id(2)),
			entry(11, "c", "db.$cmd", u1, bson.D{{Key: "renameCollection", Value: "db.c"}, {Key: "to", Value: "db.d"}}),
			entry(22, "i", "db.d", u1, id(11)),
		},
		want: map[string][]int32{"db.c": nil, "db.d": {1, 2, 10, 11}},
	}, {
		name: "rename_dropTarget",
		a: []bson.D{
			entry(0, "i", "db.d", u3, id(100)),
			entry(1, "i", "db.c", u1, id(1)),
			entry(10, "c", "db.$cmd", u1, bson.D{{Key: "renameCollection", Value: "db.c"}, {Key: "to", Value: "db.d"},
				{Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: u3}}}),
			entry(20, "i", "db.d", u1, id(10)),
		},
		b: []bson.D{
			entry(2, "i", "db.d", u3, id(101)),
			entry(5, "i", "db.c", u1, id(2)),
			entry(11, "c", "db.$cmd", u1, bson.D{{Key: "renameCollection", Value: "db.c"}, {Key: "to", Value: "db.d"},
				{Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: u3}}}),
			entry(22, "i", "db.d", u1, id(11)),
		},
		want: map[string][]int32{"db.c": nil, "db.d": {1, 2, 10, 11}},
	}, {
		name: "dropDatabase",
		a: []bson.D{
			entry(0, "i", "db.c", u1, id(1)),
			entry(10, "c", "db.$cmd", nil, bson.D{{Key: "dropDatabase", Value: 1}}),
			entry(20, "i", "db.c", u5, id(10)),
		},
		b: []bson.D{
			entry(5, "i", "db.e", u2, id(2)),
			entry(11, "c", "db.$cmd", nil, bson.D{{Key: "dropDatabase", Value: 1}}),
			entry(22, "i", "db.e", u6, id(11)),
		},
		want: map[string][]int32{"db.c": {10}, "db.e": {11}},
	}, {
		name: "index_build_and_drop",
		a: []bson.D{
			entry(0, "i", "db.c", u1, id(1)),
			build(9, "startIndexBuild", "a_1"),
			build(10, "commitIndexBuild", "a_1"),
			entry(20, "i", "db.c", u1, id(10)),
			entry(30, "c", "db.$cmd", u1, bson.D{{Key: "dropIndexes", Value: "c"}, {Key: "index", Value: "a_1"}}),
			entry(40, "c", "db.$cmd", u1, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "v", Value: 2},
				{Key: "key", Value: bson.D{{Key: "b", Value: 1}}}, {Key: "name", Value: "b_1"}}),
		},
		b: []bson.D{
			entry(5, "i", "db.c", u1, id(2)),
			build(8, "startIndexBuild", "a_1"),
			build(11, "commitIndexBuild", "a_1"),
			entry(22, "i", "db.c", u1, id(11)),
			entry(31, "c", "db.$cmd", u1, bson.D{{Key: "dropIndexes", Value: "c"}, {Key: "index", Value: "a_1"}}),
			entry(41, "c", "db.$cmd", u1, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "v", Value: 2},
				{Key: "key", Value: bson.D{{Key: "b", Value: 1}}}, {Key: "name", Value: "b_1"}}),
		},
		want:     map[string][]int32{"db.c": {1, 2, 10, 11}},
		indexes:  map[string][]string{"db.c": {"_id_", "b_1"}},
		gateless: true, // each shard's last index command is the same
	}}
}

func TestCluster_DDLOrderAcrossShards(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	for _, c := range shardDDLCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, order := range []string{"together", "a_first", "b_first"} {
				resetServer(t, client)
				runShards(t, client, c, order)
				if err := checkShardCase(client, c); err != nil {
					t.Errorf("%s: %v", order, err)
				}
			}
			// Without the gate, A fully ahead of B: B's older DDL lands
			// after A's newer writes.
			resetServer(t, client)
			runShards(t, client, c, "no_gate")
			err := checkShardCase(client, c)
			if c.gateless && err != nil {
				t.Errorf("without the gate: %v", err)
			}
			if !c.gateless && err == nil {
				t.Errorf("without the gate the destination ended right too: the case shows nothing")
			}
		})
	}
}

// runShards spools each shard's oplog through the file source and runs
// both appliers in the given order.
func runShards(t *testing.T, client *mongo.Client, c shardDDLCase, order string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var gates [2]*gate.ShardGate
	var cl *gate.Cluster
	if order != "no_gate" {
		cl = gate.NewCluster(quietLog())
		gates[0], gates[1] = cl.Shard("a", nil), cl.Shard("b", nil)
	}
	dirs := [2]string{spoolShard(t, c.a, gates[0]), spoolShard(t, c.b, gates[1])}
	run := func(i int) chan error {
		done := make(chan error, 1)
		go func() { done <- applyShard(ctx, client, dirs[i], gates[i]) }()
		return done
	}
	wait := func(ch chan error) {
		if err := <-ch; err != nil {
			t.Fatalf("%s: applier: %v", order, err)
		}
	}
	switch order {
	case "together":
		a, b := run(0), run(1)
		wait(a)
		wait(b)
	case "a_first", "b_first":
		first := 0
		if order == "b_first" {
			first = 1
		}
		ch := run(first)
		waitHeld(t, ctx, cl, first, ch)
		wait(run(1 - first))
		wait(ch)
	case "no_gate":
		wait(run(0))
		wait(run(1))
	}
}

// waitHeld waits until shard i's applier waits for the other shard (it
// has gone as far ahead as it may), or has finished.
func waitHeld(t *testing.T, ctx context.Context, cl *gate.Cluster, i int, done chan error) {
	for {
		if !cl.Snapshot()[i].WaitingSince.IsZero() {
			return
		}
		select {
		case err := <-done:
			done <- err
			return
		case <-ctx.Done():
			t.Fatal("the first applier neither waited nor finished")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// spoolShard writes entries to an oplog.bson and spools it with the file
// source, through the gate's Appender when there is a gate.
func spoolShard(t *testing.T, entries []bson.D, g *gate.ShardGate) string {
	return spoolFiltered(t, entries, g, reader.Filter{})
}

// spoolFiltered is spoolShard with the reader's filter.
func spoolFiltered(t *testing.T, entries []bson.D, g *gate.ShardGate, filter reader.Filter) string {
	dir := t.TempDir()
	f := filepath.Join(dir, "oplog.bson")
	var buf []byte
	for _, e := range entries {
		buf = append(buf, bsontest.Raw(t, e)...)
	}
	if err := os.WriteFile(f, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	spoolDir := filepath.Join(dir, "spool")
	w, err := spool.OpenWriter(spoolDir, spool.Options{Source: "file", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	var app reader.Appender = w
	if g != nil {
		app = g.Appender(w)
	}
	rd := &reader.Reader{W: app, Source: reader.FileSource{Path: f}, Filter: filter, EndWhenDone: true, Log: quietLog()}
	if err := rd.Run(context.Background()); err != nil {
		t.Fatalf("reader: %v", err)
	}
	w.Close()
	return spoolDir
}

// applyShard drains a shard's spool as sync does: the catalog in the
// shard's own state file.
func applyShard(ctx context.Context, client *mongo.Client, spoolDir string, g *gate.ShardGate) error {
	return applyAs(ctx, client, spoolDir, g, false)
}

// applyAs is applyShard with the translator told whether the source is a
// replica set of its own (translate.Translator.ReplicaSet).
func applyAs(ctx context.Context, client *mongo.Client, spoolDir string, g *gate.ShardGate, replicaSet bool) error {
	sr, err := spool.OpenReader(spoolDir)
	if err != nil {
		return err
	}
	defer sr.Close()
	st, err := store.Open(filepath.Join(filepath.Dir(spoolDir), "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	tr := translate.NewTranslator(nil)
	tr.Catalog, tr.Log, tr.ReplicaSet = st, quietLog(), replicaSet
	// Two shards' appliers write at once: 2 × 4 workers × 12 statements stay
	// under the test server's 100 pooled connections per database, which
	// its update commands hold one per statement.
	a := &Applier{Spool: sr, SpoolDir: spoolDir, Store: st, Translator: tr,
		Exec:     &exec.Executor{Client: client, Workers: 4, BulkSize: 12, Log: quietLog()},
		BatchOps: 1000, BatchBytes: 16 << 20, ExitWhenDrained: true, LogInterval: 1 << 62, Log: quietLog(), Gate: g}
	return a.Run(ctx)
}

func checkShardCase(client *mongo.Client, c shardDDLCase) error {
	for ns, want := range c.want {
		got, err := nsIDs(client, ns)
		if err != nil {
			return err
		}
		if !sameIDs(got, want) {
			return fmt.Errorf("%s holds %v, want %v", ns, got, want)
		}
	}
	for ns, want := range c.indexes {
		db, coll := config.SplitNS(ns)
		specs, err := client.Database(db).Collection(coll).Indexes().ListSpecifications(context.Background())
		if err != nil {
			return err
		}
		var got []string
		for _, s := range specs {
			got = append(got, s.Name)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s has indexes %v, want %v", ns, got, want)
		}
	}
	return nil
}

// nsIDs lists ns's _ids, nil when the collection does not exist.
func nsIDs(client *mongo.Client, ns string) ([]int32, error) {
	ctx := context.Background()
	db, coll := config.SplitNS(ns)
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil || len(names) == 0 {
		return nil, err
	}
	cur, err := client.Database(db).Collection(coll).Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var docs []struct {
		ID int32 `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := []int32{}
	for _, d := range docs {
		out = append(out, d.ID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
