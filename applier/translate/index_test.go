package translate

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// entrySpecs are the index specs of a createIndexes or commitIndexBuild
// entry's o, cleaned as indexOp cleans them.
func entrySpecs(t *testing.T, o bson.D) bson.A {
	t.Helper()
	raw := bsontest.Raw(t, o)
	specs := bson.A{}
	if arr, ok := raw.Lookup("indexes").ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			specs = append(specs, cleanIndexSpec(v))
		}
		return specs
	}
	elems, _ := raw.Elements()
	spec := bson.D{}
	for _, e := range elems[1:] {
		spec = append(spec, bson.E{Key: e.Key(), Value: e.Value()})
	}
	return append(specs, cleanIndexSpec(spec))
}

// A 4.4 createIndexes entry keeps what the user sent that createIndexes
// took: background, and bucketSize on any index type (mongodb/mongo
// src/mongo/db/catalog/index_key_validate.cpp, r4.4 allowedFieldNames).
// bucketSize means nothing outside geoHaystack, and createIndexes refuses
// it after 5.0 (r7.0 allowedFieldNames) until SERVER-76108.
func TestCleanIndexSpec_EntryOf44(t *testing.T) {
	entry := bson.D{{Key: "createIndexes", Value: "places"}, {Key: "v", Value: int32(2)},
		{Key: "key", Value: bson.D{{Key: "loc", Value: "2d"}}}, {Key: "name", Value: "loc_2d"},
		{Key: "background", Value: true}, {Key: "bucketSize", Value: 10.0}}
	got := bsontest.Ext(bsontest.Raw(t, bson.D{{Key: "indexes", Value: entrySpecs(t, entry)}}))
	if want := `{"indexes":[{"key":{"loc":"2d"},"name":"loc_2d"}]}`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}
