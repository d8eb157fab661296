package verify

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// One index as a 4.4 source lists it and as a 6.0 destination lists the
// copy. 4.4 lists its catalog's spec as it is (mongodb/mongo
// src/mongo/db/commands/list_indexes.cpp, r4.4), with the numbers the
// legacy mongo shell sent (doubles) and unique: 1; 5.0+ lists through
// ListIndexesReplyItem (src/mongo/db/list_indexes.idl: unique, sparse and
// hidden are safeBool, expireAfterSeconds safeInt), so the same options
// come back as true and 3600. They are the same index.
func TestIndexSpec_SameIndexAcrossVersions(t *testing.T) {
	pairs := []struct{ src, dst bson.D }{
		{bson.D{{Key: "v", Value: int32(1)}, {Key: "unique", Value: int32(1)}, {Key: "key", Value: bson.D{{Key: "email", Value: 1.0}}},
			{Key: "name", Value: "email_1"}, {Key: "ns", Value: "shop.users"}, {Key: "sparse", Value: 1.0}},
			bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "email", Value: 1.0}}}, {Key: "name", Value: "email_1"},
				{Key: "unique", Value: true}, {Key: "sparse", Value: true}}},
		{bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "at", Value: 1.0}}}, {Key: "name", Value: "at_1"},
			{Key: "expireAfterSeconds", Value: 3600.0}, {Key: "hidden", Value: false}},
			bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "at", Value: 1.0}}}, {Key: "name", Value: "at_1"},
				{Key: "expireAfterSeconds", Value: int32(3600)}}},
	}
	for _, p := range pairs {
		if a, b := indexSpec(doc(p.src)), indexSpec(doc(p.dst)); a != b {
			t.Errorf("the same index renders as\n source %s\n destination %s", a, b)
		}
	}
	// A real difference stays one.
	unique := bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: int32(1)}}}, {Key: "name", Value: "x_1"}, {Key: "unique", Value: true}}
	plain := bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: int32(1)}}}, {Key: "name", Value: "x_1"}, {Key: "unique", Value: false}}
	if a, b := indexSpec(doc(unique)), indexSpec(doc(plain)); a == b || a != `{"key":{"x":1},"unique":true}` || b != `{"key":{"x":1}}` {
		t.Errorf("unique vs not: %s and %s", a, b)
	}
	ttl := func(s float64) bson.D {
		return bson.D{{Key: "key", Value: bson.D{{Key: "at", Value: int32(1)}}}, {Key: "name", Value: "at_1"}, {Key: "expireAfterSeconds", Value: s}}
	}
	if a, b := indexSpec(doc(ttl(3600))), indexSpec(doc(ttl(60))); a == b {
		t.Errorf("expireAfterSeconds 3600 vs 60 both render as %s", a)
	}
}

// Text, 2d and wildcard indexes: their options count, by value. A 4.4
// source lists a text index's weights and versions as the shell sent them
// (doubles), a 6.0 destination as int32 (list_indexes.idl: weights an
// object, textIndexVersion and 2dsphereIndexVersion safeInt); the same
// index either way. Another weight, language, bound or projection, or
// prepareUnique on one side only, is another index.
func TestIndexSpec_SpecialIndexOptions(t *testing.T) {
	text := func(weight any, lang string) bson.D {
		return bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_fts", Value: "text"}, {Key: "_ftsx", Value: int32(1)}}},
			{Key: "name", Value: "body_text"}, {Key: "weights", Value: bson.D{{Key: "body", Value: weight}, {Key: "title", Value: int32(1)}}},
			{Key: "default_language", Value: lang}, {Key: "language_override", Value: "language"}, {Key: "textIndexVersion", Value: int32(3)}}
	}
	geo := func(bits any, max float64) bson.D {
		return bson.D{{Key: "key", Value: bson.D{{Key: "loc", Value: "2d"}}}, {Key: "name", Value: "loc_2d"},
			{Key: "bits", Value: bits}, {Key: "min", Value: -180.0}, {Key: "max", Value: max}}
	}
	wild := func(proj bson.D) bson.D {
		return bson.D{{Key: "key", Value: bson.D{{Key: "$**", Value: int32(1)}}}, {Key: "name", Value: "$**_1"}, {Key: "wildcardProjection", Value: proj}}
	}
	same := [][2]bson.D{
		{text(10.0, "english"), text(int32(10), "english")},
		{geo(26.0, 180), geo(int32(26), 180)},
		{wild(bson.D{{Key: "a", Value: 1.0}}), wild(bson.D{{Key: "a", Value: true}})},
	}
	for _, p := range same {
		if a, b := indexSpec(doc(p[0])), indexSpec(doc(p[1])); a != b {
			t.Errorf("the same index renders as\n %s\n %s", a, b)
		}
	}
	prepared := append(bson.D{}, text(10.0, "english")...)
	prepared = append(prepared, bson.E{Key: "prepareUnique", Value: true})
	differ := [][2]bson.D{
		{text(10.0, "english"), text(int32(5), "english")},
		{text(10.0, "english"), text(10.0, "spanish")},
		{geo(26.0, 180), geo(26.0, 90)},
		{geo(26.0, 180), geo(int32(32), 180)},
		{wild(bson.D{{Key: "a", Value: 1.0}}), wild(bson.D{{Key: "b", Value: 1.0}})},
		{wild(bson.D{{Key: "a", Value: 1.0}}), wild(bson.D{{Key: "a", Value: 0.0}})},
		{text(10.0, "english"), prepared},
	}
	for _, p := range differ {
		if a, b := indexSpec(doc(p[0])), indexSpec(doc(p[1])); a == b {
			t.Errorf("two indexes render alike: %s", a)
		}
	}
}
