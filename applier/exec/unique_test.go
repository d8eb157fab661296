package exec

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestHolderFind_PartialAndCollatedIndexes: the holder of a unique key is
// looked up as the index sees keys. Index specs in the shape listIndexes
// returns them (mongodb/mongo src/mongo/db/catalog/index_key_validate.cpp;
// the collation as src/mongo/db/basic_types.idl, struct Collation, spells it,
// with the ICU version the server built it with): a partial index holds
// only documents matching its partialFilterExpression, so a document
// outside it is no holder; a collated index compares keys under its
// collation ("A@x.org" and "a@x.org" at strength 2), so the lookup carries
// it, without the version, and leaves the document's own _id to the
// caller: under the collation, "Alice" would be excluded with "alice".
func TestHolderFind_PartialAndCollatedIndexes(t *testing.T) {
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: "alice"}}}, {Key: "email", Value: "a@x.org"}}
	spec := func(d bson.D) uniqueIndex {
		raw := bsontest.Raw(t, d)
		ix := uniqueIndex{name: raw.Lookup("name").StringValue()}
		if v, ok := raw.Lookup("partialFilterExpression").DocumentOK(); ok {
			ix.partial = v
		}
		if v, ok := raw.Lookup("collation").DocumentOK(); ok {
			ix.collation = v
		}
		return ix
	}
	base := bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "email", Value: 1}}}, {Key: "name", Value: "email_1"}, {Key: "unique", Value: true}}
	collated := spec(append(base, bson.E{Key: "collation", Value: bson.D{{Key: "locale", Value: "en"}, {Key: "caseLevel", Value: false}, {Key: "caseFirst", Value: "off"},
		{Key: "strength", Value: 2}, {Key: "numericOrdering", Value: false}, {Key: "alternate", Value: "non-ignorable"}, {Key: "maxVariable", Value: "punct"},
		{Key: "normalization", Value: false}, {Key: "backwards", Value: false}, {Key: "version", Value: "57.1"}}}))
	if got, want := *collationOf(collated.collation), (options.Collation{Locale: "en", CaseFirst: "off", Strength: 2, Alternate: "non-ignorable", MaxVariable: "punct"}); got != want {
		t.Errorf("collation %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		name      string
		ix        uniqueIndex
		collation *options.Collation
		want      string
	}{
		{"plain", spec(base), nil, `{"_id":{"$ne":"alice"},"email":"a@x.org"}`},
		{"partial", spec(append(base, bson.E{Key: "partialFilterExpression", Value: bson.D{{Key: "active", Value: bson.D{{Key: "$eq", Value: true}}}}})), nil,
			`{"$and":[{"_id":{"$ne":"alice"},"email":"a@x.org"},{"active":{"$eq":true}}]}`},
		{"collated", collated, collationOf(collated.collation), `{"email":"a@x.org"}`},
	} {
		query, opts := holderFind(c.ix, filter, c.collation)
		raw, err := bson.Marshal(query)
		if err != nil {
			t.Fatal(err)
		}
		if got := bsontest.Ext(bson.Raw(raw)); got != c.want {
			t.Errorf("%s: query %s, want %s", c.name, got, c.want)
		}
		var o options.FindOptions
		for _, set := range opts.List() {
			if err := set(&o); err != nil {
				t.Fatal(err)
			}
		}
		if o.Collation != c.collation || o.Limit == nil || *o.Limit != 2 {
			t.Errorf("%s: collation %+v limit %v, want %+v and 2 (the document's own _id may be one)", c.name, o.Collation, o.Limit, c.collation)
		}
	}
	v := func(x any) bson.RawValue {
		ty, data, err := bson.MarshalValue(x)
		if err != nil {
			t.Fatal(err)
		}
		return bson.RawValue{Type: ty, Value: data}
	}
	for _, c := range []struct {
		a, b any
		same bool
	}{
		{"alice", "alice", true}, {"alice", "Alice", false}, {int32(1), 1.0, true}, {int32(1), int64(1), true},
		{int64(2), 2.5, false}, {"1", int32(1), false}, {bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "a", Value: 1}}, true},
	} {
		if got := sameID(v(c.a), v(c.b)); got != c.same {
			t.Errorf("sameID(%v, %v) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}
