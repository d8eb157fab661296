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

// The index specs of oplog entries are mongod's catalog specs (mongodb/mongo
// src/mongo/db/op_observer/op_observer_impl.cpp, onCreateIndex,
// onStartIndexBuild, onCommitIndexBuild): the spec after createIndexes
// resolved the collection's default collation, so no collation there is
// the simple one (src/mongo/db/catalog/index_catalog_impl.cpp, r6.0/r7.0
// _isSpecOk), and a text index on a collated collection has none
// ("Index type 'text' does not support collation"). Replayed as they are
// on a destination collection with that default collation, the text
// index is refused and a plain one takes the collection's collation
// (src/mongo/db/catalog/index_key_validate.cpp,
// validateIndexSpecCollation): the command spells the simple one out.
func TestIndexCommand_EntrySpecsOnACollatedCollection(t *testing.T) {
	uuid := bson.Binary{Subtype: 4, Data: make([]byte, 16)}
	commit := bson.D{{Key: "commitIndexBuild", Value: "articles"}, {Key: "indexBuildUUID", Value: uuid},
		{Key: "indexes", Value: bson.A{
			bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_fts", Value: "text"}, {Key: "_ftsx", Value: int32(1)}}},
				{Key: "name", Value: "body_text"}, {Key: "weights", Value: bson.D{{Key: "body", Value: int32(1)}}},
				{Key: "default_language", Value: "english"}, {Key: "language_override", Value: "language"}, {Key: "textIndexVersion", Value: int32(3)}},
			bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "title", Value: int32(1)}}}, {Key: "name", Value: "title_1"},
				{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(3)}, {Key: "version", Value: "57.1"}}}},
		}}}
	specs := entrySpecs(t, commit)
	got := bsontest.Ext(bsontest.Raw(t, indexCommand("articles", specs, true)))
	want := `{"createIndexes":"articles","indexes":[` +
		`{"key":{"_fts":"text","_ftsx":1},"name":"body_text","weights":{"body":1},"default_language":"english","language_override":"language","textIndexVersion":3,"collation":{"locale":"simple"}},` +
		`{"key":{"title":1},"name":"title_1","collation":{"locale":"fr","strength":3,"version":"57.1"}}]}`
	if got != want {
		t.Errorf("on a collated collection:\n got %s\nwant %s", got, want)
	}
	// Without a default collation the specs go as they are (the test
	// server, which has no collations, refuses the option).
	got = bsontest.Ext(bsontest.Raw(t, indexCommand("articles", specs, false)))
	want = `{"createIndexes":"articles","indexes":[` +
		`{"key":{"_fts":"text","_ftsx":1},"name":"body_text","weights":{"body":1},"default_language":"english","language_override":"language","textIndexVersion":3},` +
		`{"key":{"title":1},"name":"title_1","collation":{"locale":"fr","strength":3,"version":"57.1"}}]}`
	if got != want {
		t.Errorf("without a default collation:\n got %s\nwant %s", got, want)
	}
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
