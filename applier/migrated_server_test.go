package applier

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A sharded collection's DDL as two shards log it from 5.0 on: shard a is
// the database's primary (plain entries), shard b another shard holding
// chunks (fromMigrate entries), each spooled by the file source (the
// reader's filter) and replayed by its own applier through one Cluster
// into one destination, whose copy both shards' catalogs recorded.
// Transcribed from mongodb/mongo (see translate/migrated.go for the reading):
//
//   - drop, 6.0 and later: src/mongo/db/s/sharding_ddl_util.cpp
//     sendDropCollectionParticipantCommandToShards (fromMigrate true for the
//     participants), drop_database_coordinator.cpp (primary last);
//     op_observer_impl.cpp onDropCollection: {op: c, ns: db.$cmd, ui,
//     o: {drop: coll}, o2: {numRecords}, fromMigrate: true};
//   - rename, 7.0 (the version read, SERVER-74719's TODO):
//     rename_collection_participant_service.cpp, markFromMigrate =
//     thisShardId != primaryShardId; o: {renameCollection, to, stayTemp,
//     dropTarget: <uuid>}; 5.0 and 6.0 run the same participant service;
//   - create on a shard's first chunk, 6.0 (the version read):
//     migration_destination_manager.cpp cloneCollectionIndexesAndOptions,
//     userCreateNS(..., fromMigrate = true): o: {create: coll, idIndex}.
//
// 8.0's coordinators log the same three shapes (README, "A sharded
// collection's DDL, version by version"); its resharding-based moves are
// TestCluster_MoveCollection80.

type migratedCase struct {
	name   string
	a, b   []bson.D
	copied map[string][]int32 // the destination after the copy
	cat    map[string][]byte  // both shards' catalogs after the copy: ns → uuid
	want   map[string][]int32
	// wantB is shard b's catalog at the end (ns → uuid).
	wantB map[string][]byte
	// replayB: shard b's whole spool is replayed once more (a rewind) over
	// the end state; the destination must not change.
	replayB bool
}

func migratedCases() []migratedCase {
	u1, u2, u3 := uuid(1), uuid(2), uuid(3)
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	fm := func(d bson.D) bson.D { return append(d, bson.E{Key: "fromMigrate", Value: true}) }
	o2 := func(d bson.D, n int64) bson.D {
		return append(d, bson.E{Key: "o2", Value: bson.D{{Key: "numRecords", Value: n}}})
	}
	drop := func(ts uint32, ui []byte) bson.D {
		return o2(entry(ts, "c", "db.$cmd", ui, bson.D{{Key: "drop", Value: "c"}}), 2)
	}
	create := func(ts uint32, ui []byte) bson.D {
		return entry(ts, "c", "db.$cmd", ui, bson.D{{Key: "create", Value: "c"},
			{Key: "idIndex", Value: bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "name", Value: "_id_"}}}})
	}
	shardNoop := func(ts uint32, ui []byte) bson.D {
		return bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700200000 + ts, I: 2}}, {Key: "t", Value: int64(1)},
			{Key: "op", Value: "n"}, {Key: "ns", Value: "db.c"}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: ui}},
			{Key: "o", Value: bson.D{{Key: "msg", Value: bson.D{{Key: "shardCollection", Value: "db.c"}}}}},
			{Key: "o2", Value: bson.D{{Key: "shardCollection", Value: "db.c"}, {Key: "shardKey", Value: bson.D{{Key: "_id", Value: "hashed"}}}, {Key: "unique", Value: false}}}}
	}
	rename := func(ts uint32, dropTarget []byte) bson.D {
		o := bson.D{{Key: "renameCollection", Value: "db.c"}, {Key: "to", Value: "db.d"}, {Key: "stayTemp", Value: false}}
		if dropTarget != nil {
			o = append(o, bson.E{Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: dropTarget}})
		}
		return entry(ts, "c", "db.$cmd", u1, o)
	}
	return []migratedCase{{
		name:   "drop_6.0+",
		a:      []bson.D{entry(6, "i", "db.c", u1, id(4)), drop(10, u1), entry(20, "i", "db.e", u3, id(10))},
		b:      []bson.D{entry(5, "i", "db.c", u1, id(3)), fm(drop(9, u1)), entry(22, "i", "db.e", u3, id(11))},
		copied: map[string][]int32{"db.c": {1, 2}},
		cat:    map[string][]byte{"db.c": u1},
		want:   map[string][]int32{"db.c": nil, "db.e": {10, 11}},
		wantB:  map[string][]byte{},
	}, {
		name: "drop_recreate_first_chunk_6.0+",
		a: []bson.D{entry(6, "i", "db.c", u1, id(4)), drop(10, u1), create(15, u2), shardNoop(15, u2),
			entry(20, "i", "db.c", u2, id(10))},
		b: []bson.D{entry(5, "i", "db.c", u1, id(3)), fm(drop(9, u1)), fm(create(16, u2)),
			fm(entry(17, "i", "db.c", u2, id(10))), // the chunk's documents: skipped
			entry(22, "i", "db.c", u2, id(11))},
		copied:  map[string][]int32{"db.c": {1, 2}},
		cat:     map[string][]byte{"db.c": u1},
		want:    map[string][]int32{"db.c": {10, 11}},
		wantB:   map[string][]byte{"db.c": u2},
		replayB: true,
	}, {
		name:   "rename_7.0",
		a:      []bson.D{entry(6, "i", "db.c", u1, id(4)), rename(10, nil), entry(20, "i", "db.d", u1, id(10))},
		b:      []bson.D{entry(5, "i", "db.c", u1, id(3)), fm(rename(9, nil)), entry(22, "i", "db.d", u1, id(11))},
		copied: map[string][]int32{"db.c": {1, 2}},
		cat:    map[string][]byte{"db.c": u1},
		want:   map[string][]int32{"db.c": nil, "db.d": {1, 2, 3, 4, 10, 11}},
		wantB:  map[string][]byte{"db.d": u1},
	}, {
		name: "rename_dropTarget_7.0",
		a:    []bson.D{entry(6, "i", "db.c", u1, id(4)), rename(10, u3), entry(20, "i", "db.d", u1, id(10))},
		b: []bson.D{entry(3, "i", "db.d", u3, id(102)), entry(5, "i", "db.c", u1, id(3)), fm(rename(11, u3)),
			entry(22, "i", "db.d", u1, id(11))},
		copied: map[string][]int32{"db.c": {1, 2}, "db.d": {100, 101}},
		cat:    map[string][]byte{"db.c": u1, "db.d": u3},
		want:   map[string][]int32{"db.c": nil, "db.d": {1, 2, 3, 4, 10, 11}},
		wantB:  map[string][]byte{"db.d": u1},
	}}
}

func TestCluster_FromMigrateDDLFollowed(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	for _, c := range migratedCases() {
		t.Run(c.name, func(t *testing.T) {
			resetServer(t, client)
			for ns, want := range c.copied {
				db, coll := config.SplitNS(ns)
				for _, i := range want {
					if _, err := client.Database(db).Collection(coll).InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			cl := gate.NewCluster(quietLog())
			ga, gb := cl.Shard("a", nil), cl.Shard("b", nil)
			dirs := [2]string{spoolShard(t, c.a, ga), spoolShard(t, c.b, gb)}
			for _, d := range dirs {
				seedCatalog(t, d, c.cat)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			errs := make(chan error, 2)
			go func() { errs <- applyRetained(ctx, client, dirs[0], ga) }()
			go func() { errs <- applyRetained(ctx, client, dirs[1], gb) }()
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("applier: %v", err)
				}
			}
			if err := checkShardCase(client, shardDDLCase{want: c.want}); err != nil {
				t.Error(err)
			}
			if got := readCatalog(t, dirs[1]); fmt.Sprint(got) != fmt.Sprint(c.wantB) {
				t.Errorf("shard b's catalog is %v, want %v", got, c.wantB)
			}
			if !c.replayB {
				return
			}
			st, err := store.Open(filepath.Join(filepath.Dir(dirs[1]), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			err = st.SetCheckpoint(store.Checkpoint{})
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := applyRetained(ctx, client, dirs[1], nil); err != nil {
				t.Fatalf("replay of shard b: %v", err)
			}
			if err := checkShardCase(client, shardDDLCase{want: c.want}); err != nil {
				t.Errorf("after shard b's replay: %v", err)
			}
		})
	}
}

// seedCatalog records, in the state file beside spoolDir, what a copy
// recorded: ns → uuid.
func seedCatalog(t *testing.T, spoolDir string, cat map[string][]byte) {
	t.Helper()
	st, err := store.Open(filepath.Join(filepath.Dir(spoolDir), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for ns, u := range cat {
		if err := st.SetCollection(u, ns); err != nil {
			t.Fatal(err)
		}
	}
}

// readCatalog is the state file's catalog beside spoolDir, as ns → uuid.
func readCatalog(t *testing.T, spoolDir string) map[string][]byte {
	t.Helper()
	st, err := store.Open(filepath.Join(filepath.Dir(spoolDir), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := st.Collections()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for u, ns := range m {
		out[ns] = []byte(u)
	}
	return out
}

// applyRetained is applyShard with the spool kept once applied, so that it
// can be replayed.
func applyRetained(ctx context.Context, client *mongo.Client, spoolDir string, g *gate.ShardGate) error {
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
	tr.Catalog, tr.Log = st, quietLog()
	a := &Applier{Spool: sr, SpoolDir: spoolDir, Store: st, Translator: tr,
		Exec:     &exec.Executor{Client: client, Workers: 4, BulkSize: 12, Log: quietLog()},
		BatchOps: 1000, BatchBytes: 16 << 20, ExitWhenDrained: true, LogInterval: 1 << 62, Log: quietLog(),
		Retention: time.Hour}
	if g != nil {
		a.Gate = g
	}
	return a.Run(ctx)
}
