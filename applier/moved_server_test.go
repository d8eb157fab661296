package applier

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// movePrimary of database db from shard a (the old primary) to shard b, as
// both log it (mongodb/mongo, 4.4 to 8.0; see translate/moved.go): b
// creates db.c under a new UUID with a plain create and inserts the
// documents with fromMigrate; a, once the move commits, drops its copy
// with a plain drop of the old UUID. Then b takes the collection's writes.
// Replayed by two shards' appliers through one Cluster, the destination
// keeps db.c and its documents, and takes b's later writes; shard a's
// catalog forgets the old UUID. Without the check, a's drop dropped every
// document and b's next insert re-created db.c with that one alone.
func TestCluster_MovePrimaryKeepsTheCollection(t *testing.T) {
	client, ctx := freshDest(t)
	for _, i := range []int32{1, 2} { // the copy
		if _, err := client.Database("db").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	u1, u2 := uuid(1), uuid(2)
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	fm := func(d bson.D) bson.D { return append(d, bson.E{Key: "fromMigrate", Value: true}) }
	create := entry(20, "c", "db.$cmd", u2, bson.D{{Key: "create", Value: "c"},
		{Key: "idIndex", Value: bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "name", Value: "_id_"}}}})
	drop := append(entry(30, "c", "db.$cmd", u1, bson.D{{Key: "drop", Value: "c"}}), bson.E{Key: "o2", Value: bson.D{{Key: "numRecords", Value: int64(3)}}})
	a := []bson.D{entry(6, "i", "db.c", u1, id(4)), drop}
	b := []bson.D{create, fm(entry(21, "i", "db.c", u2, id(1))), fm(entry(21, "i", "db.c", u2, id(2))), fm(entry(22, "i", "db.c", u2, id(4))),
		entry(40, "i", "db.c", u2, id(10))}

	stores, dirs := applyTwoShards(ctx, t, client, a, b, [2]map[string][]byte{{"db.c": u1}}) // a held db.c; b held nothing of db
	if err := checkShardCase(client, shardDDLCase{want: map[string][]int32{"db.c": {1, 2, 4, 10}}}); err != nil {
		t.Error(err)
	}
	if m, err := stores[0].Collections(); err != nil || len(m) != 0 {
		t.Errorf("shard a's catalog after its drop: %v, %v; want it empty", m, err)
	}
	// Shard a replayed alone from before its drop (applier --shard a
	// --replay-from, no other shard's catalog to ask): the drop it passed
	// over is recorded, so neither it nor a's earlier insert is applied
	// again. Before, the replayed drop dropped every document b holds.
	replayAlone(ctx, t, client, dirs[0], stores[0])
	if err := checkShardCase(client, shardDDLCase{want: map[string][]int32{"db.c": {1, 2, 4, 10}}}); err != nil {
		t.Errorf("after shard a's replay: %v", err)
	}
}

// replayAlone rewinds a shard's applier to its spool's first entry and
// replays it by itself, as a separate applier --shard process does (no
// other shard's catalog, no gate).
func replayAlone(ctx context.Context, t *testing.T, client *mongo.Client, dir string, st *store.Store) {
	t.Helper()
	sr, err := spool.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Rewind(ctx, sr, st, 1, bson.Timestamp{})
	sr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := applyWithStore(ctx, client, dir, nil, st, nil, nil); err != nil {
		t.Fatalf("the replay: %v", err)
	}
}

// freshDest is the test destination, emptied, and a context of 2 minutes.
func freshDest(t *testing.T) (*mongo.Client, context.Context) {
	t.Helper()
	client := testmongo.StartDest(t).Client()
	resetServer(t, client)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return client, ctx
}

// applyTwoShards replays shards a and b, each from its own spool and state
// file (their catalogs seeded with seed), through one Cluster into client, as
// sync does: each translator sees the other shard's catalog and every
// shard's reshardings (pipeline's heldElsewhere and reshardingAnywhere).
// It returns the two state files, open, and the two spool directories.
func applyTwoShards(ctx context.Context, t *testing.T, client *mongo.Client, a, b []bson.D, seed [2]map[string][]byte) ([2]*store.Store, [2]string) {
	t.Helper()
	cl := gate.NewCluster(quietLog())
	ga, gb := cl.Shard("a", nil), cl.Shard("b", nil)
	dirs := [2]string{spoolShard(t, a, ga), spoolShard(t, b, gb)}
	for i, d := range dirs {
		if seed[i] != nil {
			seedCatalog(t, d, seed[i])
		}
	}
	var stores [2]*store.Store
	for i, d := range dirs {
		st, err := store.Open(filepath.Join(filepath.Dir(d), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	elsewhere := func(other *store.Store) func(string) ([][]byte, error) {
		return func(ns string) ([][]byte, error) {
			m, err := other.Collections()
			var out [][]byte
			for u, n := range m {
				if n == ns {
					out = append(out, []byte(u))
				}
			}
			return out, err
		}
	}
	resharding := func(orig []byte) (bool, error) {
		for _, st := range stores {
			if under, err := st.Resharding(orig); err != nil || under {
				return under, err
			}
		}
		return false, nil
	}
	errs := make(chan error, 2)
	for i, g := range []*gate.ShardGate{ga, gb} {
		go func() {
			errs <- applyWithStore(ctx, client, dirs[i], g, stores[i], elsewhere(stores[1-i]), resharding)
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("applier: %v", err)
		}
	}
	return stores, dirs
}

// applyWithStore is applyRetained with the state file already open and the
// other shards' catalogs and reshardings given (translate.Translator's
// Elsewhere and Resharding).
func applyWithStore(ctx context.Context, client *mongo.Client, spoolDir string, g *gate.ShardGate, st *store.Store, elsewhere func(string) ([][]byte, error), resharding func([]byte) (bool, error)) error {
	sr, err := spool.OpenReader(spoolDir)
	if err != nil {
		return err
	}
	defer sr.Close()
	tr := translate.NewTranslator(nil)
	tr.Catalog, tr.Log, tr.Elsewhere, tr.Resharding = st, quietLog(), elsewhere, resharding
	a := &Applier{Spool: sr, SpoolDir: spoolDir, Store: st, Translator: tr,
		Exec:     &exec.Executor{Client: client, Workers: 4, BulkSize: 12, Log: quietLog()},
		BatchOps: 1000, BatchBytes: 16 << 20, ExitWhenDrained: true, LogInterval: 1 << 62, Log: quietLog(),
		Retention: time.Hour, Gate: g}
	return a.Run(ctx)
}

// A sharded collection dropped (6.0+: shard b, not the database's primary,
// drops with fromMigrate, then the primary a plainly and last:
// src/mongo/db/s/sharding_ddl_util.cpp
// sendDropCollectionParticipantCommandToShards, drop_collection_coordinator.cpp;
// both with o2 {numRecords}), or its database dropped (7.0+: the primary
// first, plainly, then the others with fromMigrate:
// drop_database_coordinator.cpp, shardsvr_drop_database_participant_command.cpp),
// and not created again; then shard b replayed alone from before the drop
// (applier --shard b --replay-from). b's fromMigrate drop only moved its
// catalog, and no shard holds the name any more, so nothing else told b's
// replayed insert of the dropped collection from a live one. Its catalog
// now records the collection dropped, and the insert is skipped; before,
// it re-created db.c with that one document.
func TestCluster_DroppedCollectionNotRecreatedByOneShardsReplay(t *testing.T) {
	u1 := uuid(1)
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	fm := func(d bson.D) bson.D { return append(d, bson.E{Key: "fromMigrate", Value: true}) }
	drop := func(ts uint32) bson.D {
		return append(entry(ts, "c", "db.$cmd", u1, bson.D{{Key: "drop", Value: "c"}}), bson.E{Key: "o2", Value: bson.D{{Key: "numRecords", Value: int64(2)}}})
	}
	dropDB := func(ts uint32) bson.D { return entry(ts, "c", "db.$cmd", nil, bson.D{{Key: "dropDatabase", Value: 1}}) }
	for _, c := range []struct {
		name string
		a, b []bson.D
		bNew bool // b held nothing of db.c before its entries
	}{
		{"drop", []bson.D{entry(4, "i", "db.c", u1, id(1)), drop(11)}, []bson.D{entry(5, "i", "db.c", u1, id(3)), fm(drop(10))}, false},
		{"dropDatabase", []bson.D{entry(4, "i", "db.c", u1, id(1)), dropDB(10)}, []bson.D{entry(5, "i", "db.c", u1, id(3)), fm(dropDB(11))}, false},
		// b's first chunk of db.c inside the replay: its create
		// (migration_destination_manager.cpp cloneCollectionIndexesAndOptions,
		// fromMigrate) must not bring the dropped collection back.
		{"first_chunk_replayed", []bson.D{entry(4, "i", "db.c", u1, id(1)), drop(11)},
			[]bson.D{fm(entry(3, "c", "db.$cmd", u1, bson.D{{Key: "create", Value: "c"},
				{Key: "idIndex", Value: bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "name", Value: "_id_"}}}})),
				entry(5, "i", "db.c", u1, id(3)), fm(drop(10))}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, ctx := freshDest(t)
			if _, err := client.Database("db").Collection("c").InsertOne(ctx, id(2)); err != nil { // the copy
				t.Fatal(err)
			}
			seed := [2]map[string][]byte{{"db.c": u1}, {"db.c": u1}}
			if c.bNew {
				seed[1] = nil
			}
			stores, dirs := applyTwoShards(ctx, t, client, c.a, c.b, seed)
			absent := shardDDLCase{want: map[string][]int32{"db.c": nil}}
			if err := checkShardCase(client, absent); err != nil {
				t.Fatalf("after both shards: %v", err)
			}
			replayAlone(ctx, t, client, dirs[1], stores[1])
			if err := checkShardCase(client, absent); err != nil {
				t.Errorf("after shard b's replay: %v", err)
			}
		})
	}
}
