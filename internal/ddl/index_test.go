package ddl

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func relaxed(t *testing.T, d bson.D) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func raw(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, b, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: b}
}

// Specs in the shapes mongod lists them. 4.4 lists its catalog's specs as
// they are (mongodb/mongo src/mongo/db/commands/list_indexes.cpp, r4.4):
// an index built by 4.2 or older keeps ns, one inserted into system.indexes
// under a legacy write mode keeps its _id, and 4.4 took bucketSize on any
// index (src/mongo/db/catalog/index_key_validate.cpp, r4.4:
// allowedFieldNames, no check by index type). 5.0+ lists through
// ListIndexesReplyItem (src/mongo/db/list_indexes.idl), which keeps
// bucketSize (a geoHaystack index built by 4.4 survives an upgrade) and
// 6.0's prepareUnique. createIndexes refuses bucketSize after geoHaystack's
// removal in 5.0 (index_key_validate.h, r7.0: not in allowedFieldNames)
// until SERVER-76108 (r8.0: allowed again, "users could have set it for
// other index types"); it never meant anything outside geoHaystack.
func TestIndexSpecForCreate_MongodShapes(t *testing.T) {
	cases := []struct {
		name string
		spec bson.D
		want string
	}{
		{"4.4, built by 4.2", bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "a", Value: 1.0}}},
			{Key: "name", Value: "a_1"}, {Key: "ns", Value: "shop.orders"}, {Key: "background", Value: true}},
			`{"key":{"a":1.0},"name":"a_1"}`},
		{"4.4, legacy insert into system.indexes", bson.D{{Key: "_id", Value: bson.ObjectID{1}}, {Key: "v", Value: int32(1)},
			{Key: "key", Value: bson.D{{Key: "a", Value: 1.0}}}, {Key: "name", Value: "a_1"}, {Key: "ns", Value: "shop.orders"}, {Key: "unique", Value: true}},
			`{"key":{"a":1.0},"name":"a_1","unique":true}`},
		{"4.4, 2d with bucketSize", bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "loc", Value: "2d"}}},
			{Key: "name", Value: "loc_2d"}, {Key: "bits", Value: int32(26)}, {Key: "min", Value: -180.0}, {Key: "max", Value: 180.0}, {Key: "bucketSize", Value: 1.0}},
			`{"key":{"loc":"2d"},"name":"loc_2d","bits":26,"min":-180.0,"max":180.0}`},
		{"4.4, geoHaystack keeps bucketSize", bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "pos", Value: "geoHaystack"}, {Key: "type", Value: 1.0}}},
			{Key: "name", Value: "pos_geoHaystack_type_1"}, {Key: "bucketSize", Value: 1.0}},
			`{"key":{"pos":"geoHaystack","type":1.0},"name":"pos_geoHaystack_type_1","bucketSize":1.0}`},
		{"7.0, text", bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_fts", Value: "text"}, {Key: "_ftsx", Value: int32(1)}}},
			{Key: "name", Value: "body_text"}, {Key: "weights", Value: bson.D{{Key: "body", Value: int32(1)}}}, {Key: "default_language", Value: "english"},
			{Key: "language_override", Value: "language"}, {Key: "textIndexVersion", Value: int32(3)}},
			`{"key":{"_fts":"text","_ftsx":1},"name":"body_text","weights":{"body":1},"default_language":"english","language_override":"language","textIndexVersion":3}`},
		{"6.0, options kept", bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "sku", Value: int32(1)}}}, {Key: "name", Value: "sku_1"},
			{Key: "hidden", Value: true}, {Key: "prepareUnique", Value: true}, {Key: "sparse", Value: true},
			{Key: "partialFilterExpression", Value: bson.D{{Key: "qty", Value: bson.D{{Key: "$gt", Value: int32(10)}}}}},
			{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(2)}}},
			{Key: "storageEngine", Value: bson.D{{Key: "wiredTiger", Value: bson.D{}}}}, {Key: "expireAfterSeconds", Value: int32(3600)}},
			`{"key":{"sku":1},"name":"sku_1","hidden":true,"prepareUnique":true,"sparse":true,"partialFilterExpression":{"qty":{"$gt":10}},"collation":{"locale":"fr","strength":2},"storageEngine":{"wiredTiger":{}},"expireAfterSeconds":3600}`},
		{"a field this code does not know stays (the destination names it)", bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "a", Value: int32(1)}}},
			{Key: "name", Value: "a_1"}, {Key: "futureOption", Value: true}},
			`{"key":{"a":1},"name":"a_1","futureOption":true}`},
	}
	for _, tc := range cases {
		if got := relaxed(t, IndexSpecForCreate(tc.spec)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	// The applier's specs hold bson.RawValue (an entry's own bytes).
	entry := bson.D{{Key: "v", Value: raw(t, int32(2))}, {Key: "key", Value: raw(t, bson.D{{Key: "loc", Value: "2d"}})},
		{Key: "name", Value: raw(t, "loc_2d")}, {Key: "bucketSize", Value: raw(t, 1.0)}}
	if got, want := relaxed(t, IndexSpecForCreate(entry)), `{"key":{"loc":"2d"},"name":"loc_2d"}`; got != want {
		t.Errorf("entry spec:\n got %s\nwant %s", got, want)
	}
}

// mongod's catalog holds the simple collation as no collation at all
// (src/mongo/db/catalog/index_catalog_impl.cpp, r6.0/r7.0 _isSpecOk: "An
// internal operation specified the collation {locale: \"simple\"}
// explicitly, which should instead be implied by omitting the 'collation'
// field"), while createIndexes gives a spec without one the collection's
// default (src/mongo/db/catalog/index_key_validate.cpp,
// validateIndexSpecCollation, from CollectionImpl::
// addCollationDefaultsToIndexSpecsForCreate) and refuses a collation on
// text, 2d and geoHaystack indexes (_isSpecOk: "Index type '...' does not
// support collation"). An index listed without collation on a collection
// with a default collation must be created with {locale: "simple"}.
func TestSimpleCollation_WhereTheCollectionHasADefault(t *testing.T) {
	text := bson.D{{Key: "key", Value: bson.D{{Key: "_fts", Value: "text"}, {Key: "_ftsx", Value: int32(1)}}}, {Key: "name", Value: "body_text"},
		{Key: "weights", Value: bson.D{{Key: "body", Value: int32(1)}}}, {Key: "default_language", Value: "english"},
		{Key: "language_override", Value: "language"}, {Key: "textIndexVersion", Value: int32(3)}}
	if got, want := relaxed(t, SimpleCollation(text, true)),
		`{"key":{"_fts":"text","_ftsx":1},"name":"body_text","weights":{"body":1},"default_language":"english","language_override":"language","textIndexVersion":3,"collation":{"locale":"simple"}}`; got != want {
		t.Errorf("text index on a collated collection:\n got %s\nwant %s", got, want)
	}
	fr := bson.D{{Key: "key", Value: bson.D{{Key: "name", Value: int32(1)}}}, {Key: "name", Value: "name_1"},
		{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "caseLevel", Value: false}, {Key: "strength", Value: int32(3)}, {Key: "version", Value: "57.1"}}}}
	if got, want := relaxed(t, SimpleCollation(fr, true)), relaxed(t, fr); got != want {
		t.Errorf("an index's own collation: got %s, want it kept: %s", got, want)
	}
	if got, want := relaxed(t, SimpleCollation(text, false)), relaxed(t, text); got != want {
		t.Errorf("no default collation: got %s, want the spec as it is: %s", got, want)
	}
	opts := func(d bson.D) bson.Raw {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// listCollections' options of a collection created with {locale: "fr"}
	// (the full spec: CollatorInterface::getSpec), and of one without.
	if !HasDefaultCollation(opts(bson.D{{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(3)}, {Key: "version", Value: "57.1"}}}})) {
		t.Error("options with a collation: no default collation seen")
	}
	if HasDefaultCollation(opts(bson.D{{Key: "validator", Value: bson.D{}}})) || HasDefaultCollation(nil) {
		t.Error("options without a collation: a default collation seen")
	}
}
