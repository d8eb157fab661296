package applier

import (
	"context"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
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
	dst := testmongo.StartDest(t)
	client := dst.Client()
	resetServer(t, client)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
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
