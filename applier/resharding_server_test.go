package applier

import (
	"maps"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// moveCollection (8.0; reshardCollection and unshardCollection log the
// same shapes) of db.c from shard a, the database's primary, to shard b,
// transcribed from mongodb/mongo's r8.0 line:
//
//   - each recipient (b, and a: "The database primary must always be a
//     recipient", src/mongo/db/s/resharding/resharding_coordinator_service.cpp)
//     creates db.system.resharding.<old uuid> plainly under the new UUID
//     (resharding_data_copy_util.cpp ensureCollectionExists), clones into it
//     in transactions (insertBatchTransactionally: an applyOps) and applies
//     the donors' writes to it;
//   - the donor a takes writes to db.c under the old UUID meanwhile;
//   - once committed, each recipient renames the temporary collection over
//     db.c with dropTarget and markFromMigrate
//     (ensureTemporaryReshardingCollectionRenamed), and the primary logs
//     the reshardCollection no-op for change streams
//     (change_stream_oplog_notification.cpp);
//   - b then takes the moved documents' writes under the new UUID.
//
// Nothing of the temporary collection reaches the destination; both
// shards' catalogs place the new UUID at db.c; b's delete of a document a
// inserted during the move lands after a's insert in every order (the
// recipient's rename is a cross-shard barrier: gate/resharding_test.go).
func TestCluster_MoveCollection80(t *testing.T) {
	u1, u2 := uuid(1), uuid(2)
	temp := "system.resharding.01010101-0101-0101-0101-010101010101"
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	fm := func(d bson.D) bson.D { return append(d, bson.E{Key: "fromMigrate", Value: true}) }
	create := func(ts uint32) bson.D {
		return entry(ts, "c", "db.$cmd", u2, bson.D{{Key: "create", Value: temp},
			{Key: "idIndex", Value: bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "name", Value: "_id_"}}}})
	}
	rename := func(ts uint32, dropTarget []byte) bson.D {
		o := bson.D{{Key: "renameCollection", Value: "db." + temp}, {Key: "to", Value: "db.c"}, {Key: "stayTemp", Value: false}}
		if dropTarget == nil {
			return fm(entry(ts, "c", "db.$cmd", u2, o))
		}
		o = append(o, bson.E{Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: dropTarget}})
		return fm(append(entry(ts, "c", "db.$cmd", u2, o), bson.E{Key: "o2", Value: bson.D{{Key: "numRecords", Value: int64(2)}}}))
	}
	clone := append(entry(4, "c", "admin.$cmd", nil, bson.D{{Key: "applyOps", Value: bson.A{
		bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "db." + temp}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: u2}}, {Key: "o", Value: id(2)}},
	}}}), bson.E{Key: "lsid", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: uuid(9)}}}},
		bson.E{Key: "txnNumber", Value: int64(1)}, bson.E{Key: "prevOpTime", Value: bson.D{{Key: "ts", Value: bson.Timestamp{}}, {Key: "t", Value: int64(-1)}}})
	noop := bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700200012, I: 1}}, {Key: "t", Value: int64(1)}, {Key: "op", Value: "n"},
		{Key: "ns", Value: "db.c"}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: u2}},
		{Key: "o", Value: bson.D{{Key: "msg", Value: bson.D{{Key: "reshardCollection", Value: "db.c"}}}}},
		{Key: "o2", Value: bson.D{{Key: "reshardCollection", Value: "db.c"}, {Key: "reshardUUID", Value: bson.Binary{Subtype: 4, Data: u2}},
			{Key: "shardKey", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "oldShardKey", Value: bson.D{{Key: "_id", Value: 1}}},
			{Key: "unique", Value: false}, {Key: "provenance", Value: "moveCollection"}}}}
	c := shardDDLCase{
		name: "moveCollection",
		a: []bson.D{
			entry(0, "i", "db.c", u1, id(2)),
			create(2),
			entry(5, "i", "db.c", u1, id(1)), // a write during the move
			rename(10, u1),
			noop,
		},
		b: []bson.D{
			create(3),
			clone,
			entry(6, "i", "db."+temp, u2, id(1)), // the donor's write, applied to the copy
			rename(11, nil),
			entry(20, "d", "db.c", u2, id(1)), // after the move
			entry(21, "i", "db.c", u2, id(3)),
		},
		want: map[string][]int32{"db.c": {2, 3}, "db." + temp: nil},
	}
	dst := testmongo.StartDest(t)
	client := dst.Client()
	for _, order := range []string{"together", "a_first", "b_first"} {
		resetServer(t, client)
		runShards(t, client, c, order)
		if err := checkShardCase(client, c); err != nil {
			t.Errorf("%s: %v", order, err)
		}
	}
}

// reshardCollection in the 5.0 era, where each step is logged plainly
// (mongodb/mongo, 5.0-era versions read for this; translate/resharding.go):
// shard a, the database's primary, is a recipient (and a donor); shard b
// is a donor only. a creates db.system.resharding.<db.c's UUID> under a new
// UUID (resharding_data_copy_util.cpp ensureCollectionExists) and clones
// into it with plain inserts; once committed, a renames it over db.c with
// dropTarget, no fromMigrate (resharding_recipient_service.cpp
// _renameTemporaryReshardingCollection: RenameCollectionOptions with
// dropTarget alone; the donor service does the same on a shard that is
// both), and b drops db.c under the old UUID plainly
// (resharding_donor_service.cpp, ensureCollectionDropped's
// dropCollectionEvenIfSystem(opCtx, nss) without markFromMigrate). The two
// run concurrently after the commit, so b's drop may come first.
//
// Before: b's drop, first, found a holding db.c under the same UUID and
// emptied the destination's collection; a's rename then stopped the
// applier (its source is not synced). Now the drop is not applied while a
// records the resharding, the rename moves a's catalog only, and the
// destination keeps every document.
func TestCluster_Resharding50(t *testing.T) {
	u1, u2 := uuid(1), uuid(2)
	temp := "system.resharding.01010101-0101-0101-0101-010101010101"
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	create := entry(2, "c", "db.$cmd", u2, bson.D{{Key: "create", Value: temp},
		{Key: "idIndex", Value: bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "name", Value: "_id_"}}}})
	rename := func(ts uint32) bson.D {
		return entry(ts, "c", "db.$cmd", u2, bson.D{{Key: "renameCollection", Value: "db." + temp}, {Key: "to", Value: "db.c"},
			{Key: "stayTemp", Value: false}, {Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: u1}}})
	}
	drop := func(ts uint32) bson.D { return entry(ts, "c", "db.$cmd", u1, bson.D{{Key: "drop", Value: "c"}}) }
	for _, c := range []struct {
		name string
		a, b []bson.D
	}{
		{name: "drop_before_rename",
			a: []bson.D{create, entry(3, "i", "db."+temp, u2, id(2)), entry(5, "i", "db.c", u1, id(1)), rename(11), entry(20, "i", "db.c", u2, id(4))},
			b: []bson.D{entry(6, "i", "db.c", u1, id(3)), drop(10)}},
		{name: "drop_after_rename",
			a: []bson.D{create, entry(3, "i", "db."+temp, u2, id(2)), entry(5, "i", "db.c", u1, id(1)), rename(11), entry(20, "i", "db.c", u2, id(4))},
			b: []bson.D{entry(6, "i", "db.c", u1, id(3)), drop(12)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, ctx := freshDest(t)
			for _, i := range []int32{2, 7} { // the copy: 2 on a, 7 on b
				if _, err := client.Database("db").Collection("c").InsertOne(ctx, id(i)); err != nil {
					t.Fatal(err)
				}
			}
			stores, _ := applyTwoShards(ctx, t, client, c.a, c.b, [2]map[string][]byte{{"db.c": u1}, {"db.c": u1}})
			if err := checkShardCase(client, shardDDLCase{want: map[string][]int32{"db.c": {1, 2, 3, 4, 7}, "db." + temp: nil}}); err != nil {
				t.Error(err)
			}
			for i, want := range []map[string]string{{string(u2): "db.c"}, {}} {
				if m, err := stores[i].Collections(); err != nil || !maps.Equal(m, want) {
					t.Errorf("shard %c's catalog: %q, %v; want %q", 'a'+i, m, err, want)
				}
				if under, err := stores[i].Resharding(u1); err != nil || under {
					t.Errorf("shard %c still records the resharding (%v)", 'a'+i, err)
				}
			}
		})
	}
}
