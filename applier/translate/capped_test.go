package translate

import (
	"slices"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// convertToCapped, as mongod logs it on a replica set and, from 8.0, on the
// shard holding the collection's data (mongodb/mongo,
// src/mongo/db/catalog/capped_utils.cpp convertToCapped and
// cloneCollectionAsCapped; the 8.0 ConvertToCappedCoordinator runs it there
// plainly and on a database primary without the data with fromMigrate):
//
//	{op: c, ns: app.$cmd, ui: <new>, o: {create: "tmpAbC12.convertToCapped.c", capped: true, size, temp: true, idIndex}}
//	{op: i, ns: app.tmpAbC12.convertToCapped.c, ui: <new>, o: <document>, fromMigrate: true}   (one per document)
//	{op: c, ns: app.$cmd, ui: <new>, o: {renameCollection: app.tmpAbC12.convertToCapped.c, to: app.c, stayTemp: false, dropTarget: <old>}, o2: {numRecords}}
//
// The copies are the converted collection's documents: skipped as a
// migration's, the rename left the destination's collection empty. They
// are applied as inserts; a chunk migration's copy is still skipped.
func TestTranslate_CappedCopyIsApplied(t *testing.T) {
	c := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "app", Colls: []config.Coll{{Coll: "c"}}}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"app.tmpAbC12.convertToCapped.c", "app.tmp.convertToCapped.c"} {
		tr := NewTranslator(c.Namespaces())
		copied := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: ns},
			{Key: "ui", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
			{Key: "o", Value: bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 2}}}, {Key: "fromMigrate", Value: true}})
		ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, copied)
		if err != nil || len(ops) != 1 || ops[0].Kind != exec.KindInsert || ops[0].NS != ns || bsontest.Ext(ops[0].Doc) != `{"_id":1,"x":2}` {
			t.Fatalf("convertToCapped's copy into %s: %v, %v; want one insert of the document", ns, ops, err)
		}
	}
	// A field list of app.c holds for its copies too: they become app.c.
	fc := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "app", Colls: []config.Coll{{Coll: "c", Fields: []string{"x"}}}}}}}
	if err := fc.Finish(); err != nil {
		t.Fatal(err)
	}
	copied := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "app.tmpAbC12.convertToCapped.c"},
		{Key: "ui", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
		{Key: "o", Value: bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 2}, {Key: "secret", Value: 3}}}, {Key: "fromMigrate", Value: true}})
	ops, err := NewTranslator(fc.Namespaces()).AppendOps(nil, 1, bson.Timestamp{T: 1}, copied)
	if err != nil || len(ops) != 1 || bsontest.Ext(ops[0].Doc) != `{"_id":1,"x":2}` {
		t.Fatalf("convertToCapped's copy of app.c, whose fields are [x]: %v, %v; want the insert of {_id: 1, x: 2}", ops, err)
	}
	tr := NewTranslator(c.Namespaces())
	migrated := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "app.c"},
		{Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "fromMigrate", Value: true}})
	if ops, err := tr.AppendOps(nil, 2, bson.Timestamp{T: 2}, migrated); err != nil || len(ops) != 0 {
		t.Fatalf("a chunk migration's copy: %v, %v; want nothing", ops, err)
	}
}

// cloneCollectionAsCapped ({cloneCollectionAsCapped: "events", toCollection:
// "events_capped", size}) as mongod logs it on a replica set (mongodb/mongo
// src/mongo/db/catalog/capped_utils.cpp cloneCollectionAsCapped, read at
// 4.2, 6.0, 7.0 and 8.0: the same two shapes in each): an ordinary create
// of the capped target with the source's options, then one plain insert
// entry per copied document, each in its own write unit (no applyOps),
// marked fromMigrate: true (4.2 and 6.0 Collection::insertDocument(...,
// true), 7.0 and 8.0 collection_internal::insertDocument(..., true
// /*fromMigrate*/)):
//
//	{op: c, ns: app.$cmd, ui: <new>, o: {create: "events_capped", capped: true, size, idIndex}}
//	{op: i, ns: app.events_capped, ui: <new>, o: <document>, fromMigrate: true}
//
// On a replica set of its own no chunk migration runs, so every fromMigrate
// write is its own: inserts, updates and deletes are applied. On a shard
// they stay a migration's, skipped.
func TestTranslate_ReplicaSetFromMigrateWritesAreApplied(t *testing.T) {
	c := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "app"}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	ui := bson.Binary{Subtype: 4, Data: make([]byte, 16)}
	fm := func(op string, o bson.D) bson.Raw {
		return bsontest.Raw(t, bson.D{{Key: "op", Value: op}, {Key: "ns", Value: "app.events_capped"}, {Key: "ui", Value: ui},
			{Key: "o", Value: o}, {Key: "fromMigrate", Value: true}})
	}
	copied := fm("i", bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 2}})
	deleted := fm("d", bson.D{{Key: "_id", Value: 1}})
	for _, tc := range []struct {
		name       string
		replicaSet bool
		want       []exec.Kind
	}{
		{"replica set", true, []exec.Kind{exec.KindInsert}},
		{"shard", false, nil},
	} {
		tr := NewTranslator(c.Namespaces())
		tr.ReplicaSet = tc.replicaSet
		var got []exec.Kind
		for i, raw := range []bson.Raw{copied, deleted} {
			ops, err := tr.AppendOps(nil, uint64(i+1), bson.Timestamp{T: uint32(i + 1)}, raw)
			if tc.replicaSet && i == 1 {
				// A replica set logs no fromMigrate delete: only a
				// shard's range deleter does. The translator stops.
				if err == nil || !strings.Contains(err.Error(), "a delete logged with fromMigrate") {
					t.Fatalf("%s: a fromMigrate delete: %v; want the stop", tc.name, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			for _, op := range ops {
				if op.NS != "app.events_capped" {
					t.Errorf("%s: op on %s, want app.events_capped", tc.name, op.NS)
				}
				got = append(got, op.Kind)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: fromMigrate insert (and delete) of app.events_capped became %v, want %v", tc.name, got, tc.want)
		}
	}
	// The selection still decides: app is synced, other is not.
	tr := NewTranslator(c.Namespaces())
	tr.ReplicaSet = true
	other := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "other.events_capped"},
		{Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "fromMigrate", Value: true}})
	if ops, err := tr.AppendOps(nil, 3, bson.Timestamp{T: 3}, other); err != nil || len(ops) != 0 {
		t.Fatalf("a fromMigrate insert into an unselected database: %v, %v; want nothing", ops, err)
	}
}

// A replica set that becomes a shard: addShard writes the shard's identity
// {_id: "shardIdentity", shardName, clusterId, configsvrConnectionString}
// into admin.system.version (mongodb/mongo src/mongo/s/shard_identity.idl;
// jstests/sharding/shard_identity_config_update.js). From then on its
// fromMigrate writes are chunk migrations', which a replica set's
// translator would apply as its own: the translator stops at that entry,
// naming the shard and the cluster. A shard's translator passes it by (an
// internal namespace).
func TestTranslate_ReplicaSetBecomingAShardStops(t *testing.T) {
	c := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "app"}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	cluster := bson.NewObjectID()
	identity := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "admin.system.version"},
		{Key: "ui", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
		{Key: "o", Value: bson.D{{Key: "_id", Value: "shardIdentity"}, {Key: "shardName", Value: "rs1"},
			{Key: "clusterId", Value: cluster}, {Key: "configsvrConnectionString", Value: "cfg/c1.example.net:27019"}}}})
	other := bsontest.Raw(t, bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: "admin.system.version"},
		{Key: "o", Value: bson.D{{Key: "$v", Value: 2}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "version", Value: "7.0"}}}}}}},
		{Key: "o2", Value: bson.D{{Key: "_id", Value: "featureCompatibilityVersion"}}}})
	tr := NewTranslator(c.Namespaces())
	tr.ReplicaSet = true
	if ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, other); err != nil || len(ops) != 0 {
		t.Fatalf("an FCV update: %v, %v; want nothing", ops, err)
	}
	_, err := tr.AppendOps(nil, 2, bson.Timestamp{T: 2}, identity)
	if err == nil || !strings.Contains(err.Error(), "the source became a shard (rs1 of cluster "+cluster.Hex()+")") {
		t.Fatalf("a replica set's shard identity written: %v; want the stop naming rs1 and the cluster", err)
	}
	shard := NewTranslator(c.Namespaces())
	if ops, err := shard.AppendOps(nil, 2, bson.Timestamp{T: 2}, identity); err != nil || len(ops) != 0 {
		t.Fatalf("a shard's translator on its identity: %v, %v; want nothing", ops, err)
	}
}
