package gate

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// moveCollection (8.0) of db.c from shard a, the database's primary, to
// shard b, as each logs it (mongodb/mongo, r8.0 line):
//
//   - every recipient creates db.system.resharding.<uuid of db.c> plainly
//     with the new UUID (src/mongo/db/s/resharding/resharding_data_copy_util.cpp
//     ensureCollectionExists) and clones into it; the database primary is
//     always a recipient (resharding_coordinator_service.cpp, "The database
//     primary must always be a recipient");
//   - the donor takes writes to db.c (old UUID) until its critical section;
//   - after the commit each recipient renames the temporary collection over
//     db.c with dropTarget and markFromMigrate (resharding_data_copy_util.cpp
//     ensureTemporaryReshardingCollectionRenamed), so the oplog holds
//     {op: c, ui: <new>, o: {renameCollection, to, stayTemp: false,
//     dropTarget: <old uuid, if the shard held db.c>}, fromMigrate: true}
//     (op_observer_impl.cpp); then b takes the writes to the moved documents.
//
// b's rename must wait for a to apply everything before it: without it, b's
// update of a moved document reached the destination before a's earlier
// one, which then overwrote it.
func TestCluster_ReshardingRenameHoldsTheRecipient(t *testing.T) {
	_, a, b := twoShards(t)
	u1, u2 := uuid(1), uuid(2)
	temp := "system.resharding.01010101-0101-0101-0101-010101010101"
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
		return fm(append(entry(ts, "c", "db.$cmd", u2, o), bson.E{Key: "o2", Value: bson.D{{Key: "numRecords", Value: int64(1)}}}))
	}
	update := func(ts uint32, ui []byte, x int32) bson.D {
		return append(entry(ts, "u", "db.c", ui, bson.D{{Key: "$v", Value: 2}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "x", Value: x}}}}}}),
			bson.E{Key: "o2", Value: bson.D{{Key: "_id", Value: 1}}})
	}
	as := gateEntries(t, create(2), update(5, u1, 1), rename(10, u1))
	bs := gateEntries(t, create(3), rename(11, nil), update(20, u2, 2))
	a.Spooled(raws(as))
	b.Spooled(raws(bs))
	a.Ended()
	b.Ended()

	steps := []struct {
		g       *ShardGate
		es      []spool.Entry
		want    int
		drained bool // the shard's applier then finds its spool drained
	}{
		{a, as, 0, false},     // a's create waits: b has not applied what comes before it
		{b, bs, 0, false},     // b's create waits for a's create
		{a, as, 1, false},     // a's create
		{a, as[1:], 0, false}, // a's update waits for b's create
		{b, bs, 1, false},     // b's create
		{b, bs[1:], 0, false}, // b's rename at 11 waits: a has not applied its update at 5
		{a, as[1:], 1, false}, // a's update at 5
		{a, as[2:], 1, true},  // a's rename; a is drained
		{b, bs[1:], 1, false}, // b's rename: a applied everything before it
		{b, bs[2:], 1, false}, // b's update of the moved document, after a's
	}
	for i, s := range steps {
		n := admitNow(s.g, s.es)
		if n != s.want {
			t.Fatalf("step %d (shard %s, ts %s): admitted %d, want %d", i, s.g.name, oplog.FormatTS(s.es[0].TS), n, s.want)
		}
		if n > 0 {
			s.g.Applied(s.es[n-1].TS)
		}
		if s.drained {
			s.g.Drained(s.g.ReadThrough())
		}
	}
}
