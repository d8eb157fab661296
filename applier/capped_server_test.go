package applier

import (
	"context"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/reader"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// convertToCapped of app.c on a replica set, as mongod logs it
// (mongodb/mongo src/mongo/db/catalog/capped_utils.cpp: the temporary
// collection's create, its copies with fromMigrate: true, the rename over
// the original with dropTarget; see translate/capped_test.go), spooled by
// the file source and replayed: the destination's app.c keeps its
// documents. Skipping the copies as a migration's left it empty. The test
// server renames no collection whose name holds a dot: there the test
// checks the copies reached the temporary collection, then skips.
func TestApply_ConvertToCappedKeepsTheDocuments(t *testing.T) {
	client, ctx := freshDest(t)
	for _, i := range []int32{1, 2} { // the copy
		if _, err := client.Database("app").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	u1, u2 := uuid(1), uuid(2)
	tmp := "tmpAbC12.convertToCapped.c"
	fm := func(d bson.D) bson.D { return append(d, bson.E{Key: "fromMigrate", Value: true}) }
	entries := []bson.D{
		entry(1, "i", "app.c", u1, bson.D{{Key: "_id", Value: int32(3)}}),
		entry(2, "c", "app.$cmd", u2, bson.D{{Key: "create", Value: tmp}, {Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 20)},
			{Key: "temp", Value: true},
			{Key: "idIndex", Value: bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "name", Value: "_id_"}}}}),
		fm(entry(3, "i", "app."+tmp, u2, bson.D{{Key: "_id", Value: int32(1)}})),
		fm(entry(4, "i", "app."+tmp, u2, bson.D{{Key: "_id", Value: int32(2)}})),
		fm(entry(5, "i", "app."+tmp, u2, bson.D{{Key: "_id", Value: int32(3)}})),
		append(entry(6, "c", "app.$cmd", u2, bson.D{{Key: "renameCollection", Value: "app." + tmp}, {Key: "to", Value: "app.c"},
			{Key: "stayTemp", Value: false}, {Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: u1}}}),
			bson.E{Key: "o2", Value: bson.D{{Key: "numRecords", Value: int64(3)}}}),
		entry(7, "i", "app.c", u2, bson.D{{Key: "_id", Value: int32(4)}}),
	}
	dir := spoolShard(t, entries, nil)
	seedCatalog(t, dir, map[string][]byte{"app.c": u1})
	if err := applyShard(ctx, client, dir, nil); notSupported(err) {
		// What the test server can show: the copies reached the
		// temporary collection.
		if err := checkShardCase(client, shardDDLCase{want: map[string][]int32{"app." + tmp: {1, 2, 3}}}); err != nil {
			t.Fatal(err)
		}
		t.Skipf("the test server renames no collection whose name holds a dot (%s): %v", tmp, err)
	} else if err != nil {
		t.Fatalf("applier: %v", err)
	}
	if err := checkShardCase(client, shardDDLCase{want: map[string][]int32{"app.c": {1, 2, 3, 4}, "app." + tmp: nil}}); err != nil {
		t.Error(err)
	}
}

// db.runCommand({cloneCollectionAsCapped: "events", toCollection:
// "events_capped", size: 4096}) on a replica set, as mongod logs it
// (mongodb/mongo src/mongo/db/catalog/capped_utils.cpp
// cloneCollectionAsCapped, read at 4.2, 6.0, 7.0 and 8.0; the command in
// src/mongo/db/commands/collection_to_capped.cpp passes temp only when
// asked, so no temp here):
//
//	{op: c, ns: app.$cmd, ui: <new>, o: {create: "events_capped", capped: true, size: 4096, idIndex}}
//	{op: i, ns: app.events_capped, ui: <new>, o: <document>, fromMigrate: true}   (one per document, each its own entry)
//
// (size: collection_options.cpp appends it with appendNumber, an int below
// 2^30; o2 {_id} on inserts as 8.0-era dumps show it, conformance
// insert_with_o2_document_key, absent before.) Spooled and replayed as a
// replica set's: the destination's events_capped ends with every document,
// and it is capped. Skipped as a migration's, it stayed empty. The same
// reader and applier on a shard still leave out a chunk migration's copy
// and its range deletion.
func TestApply_CloneCollectionAsCappedKeepsTheDocuments(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u1, u2 := uuid(1), uuid(2)
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	fm := func(d bson.D) bson.D { return append(d, bson.E{Key: "fromMigrate", Value: true}) }
	key := func(d bson.D, i int32) bson.D { return append(d, bson.E{Key: "o2", Value: id(i)}) }
	t.Run("replica set", func(t *testing.T) {
		resetServer(t, client)
		for _, i := range []int32{1, 2, 3} { // the copy
			if _, err := client.Database("app").Collection("events").InsertOne(ctx, id(i)); err != nil {
				t.Fatal(err)
			}
		}
		entries := []bson.D{
			entry(1, "i", "app.events", u1, id(4)),
			entry(2, "c", "app.$cmd", u2, bson.D{{Key: "create", Value: "events_capped"}, {Key: "capped", Value: true}, {Key: "size", Value: int32(4096)},
				{Key: "idIndex", Value: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: id(1)}, {Key: "name", Value: "_id_"}}}}),
			fm(entry(3, "i", "app.events_capped", u2, id(1))),
			fm(entry(4, "i", "app.events_capped", u2, id(2))),
			fm(key(entry(5, "i", "app.events_capped", u2, id(3)), 3)),
			fm(key(entry(6, "i", "app.events_capped", u2, id(4)), 4)),
			entry(7, "i", "app.events_capped", u2, id(5)), // the application's own insert
		}
		dir := spoolFiltered(t, entries, nil, reader.Filter{ReplicaSet: true})
		seedCatalog(t, dir, map[string][]byte{"app.events": u1})
		if err := applyAs(ctx, client, dir, nil, true); err != nil {
			t.Fatalf("applier: %v", err)
		}
		if err := checkShardCase(client, shardDDLCase{want: map[string][]int32{"app.events": {1, 2, 3, 4}, "app.events_capped": {1, 2, 3, 4, 5}}}); err != nil {
			t.Error(err)
		}
		specs, err := client.Database("app").ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "events_capped"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(specs) != 1 || !bson.Raw(specs[0].Options).Lookup("capped").Boolean() {
			t.Errorf("app.events_capped on the destination: %v; want one capped collection", specs)
		}
	})
	t.Run("shard", func(t *testing.T) {
		// A chunk migration into this shard copies document 2 (a plain
		// insert on the donor, applied from the donor's spool); a later
		// one moves document 1 away, and the range deleter removes it
		// here (both fromMigrate: src/mongo/db/s/migration_destination_manager.cpp,
		// range_deletion_util.cpp). Neither is applied from this shard.
		resetServer(t, client)
		entries := []bson.D{
			entry(1, "i", "app.c", u1, id(1)),
			fm(entry(2, "i", "app.c", u1, id(2))),
			fm(entry(3, "d", "app.c", u1, id(1))),
		}
		dir := spoolFiltered(t, entries, nil, reader.Filter{})
		seedCatalog(t, dir, map[string][]byte{"app.c": u1})
		if err := applyAs(ctx, client, dir, nil, false); err != nil {
			t.Fatalf("applier: %v", err)
		}
		if err := checkShardCase(client, shardDDLCase{want: map[string][]int32{"app.c": {1}}}); err != nil {
			t.Error(err)
		}
	})
}
