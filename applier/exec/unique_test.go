package exec

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestHolderFind_PartialAndCollatedIndexes: the holder of a unique key is
// looked up as the index sees keys. Index specs in the shape listIndexes
// returns them (mongodb/mongo src/mongo/db/catalog/index_key_validate.cpp;
// the collation as src/mongo/db/query/collation/collation_spec.h spells it,
// with the ICU version the server built it with): a partial index holds
// only documents matching its partialFilterExpression, so a document
// outside it is no holder; a collated index compares keys under its
// collation ("A@x.org" and "a@x.org" at strength 2), so the lookup carries
// it, without the version.
func TestHolderFind_PartialAndCollatedIndexes(t *testing.T) {
	key := bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: 7}}}, {Key: "email", Value: "a@x.org"}}
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
	for _, c := range []struct {
		name string
		ix   uniqueIndex
		want string
	}{
		{"plain", spec(bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "email", Value: 1}}}, {Key: "name", Value: "email_1"}, {Key: "unique", Value: true}}),
			`{"find":"users","filter":{"_id":{"$ne":7},"email":"a@x.org"},"projection":{"_id":1},"limit":1,"singleBatch":true}`},
		{"partial", spec(bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "email", Value: 1}}}, {Key: "name", Value: "email_1"}, {Key: "unique", Value: true},
			{Key: "partialFilterExpression", Value: bson.D{{Key: "active", Value: bson.D{{Key: "$eq", Value: true}}}}}}),
			`{"find":"users","filter":{"$and":[{"_id":{"$ne":7},"email":"a@x.org"},{"active":{"$eq":true}}]},"projection":{"_id":1},"limit":1,"singleBatch":true}`},
		{"collated", spec(bson.D{{Key: "v", Value: 2}, {Key: "key", Value: bson.D{{Key: "email", Value: 1}}}, {Key: "name", Value: "email_1"}, {Key: "unique", Value: true},
			{Key: "collation", Value: bson.D{{Key: "locale", Value: "en"}, {Key: "caseLevel", Value: false}, {Key: "caseFirst", Value: "off"}, {Key: "strength", Value: 2},
				{Key: "numericOrdering", Value: false}, {Key: "alternate", Value: "non-ignorable"}, {Key: "maxVariable", Value: "punct"},
				{Key: "normalization", Value: false}, {Key: "backwards", Value: false}, {Key: "version", Value: "57.1"}}}}),
			`{"find":"users","filter":{"_id":{"$ne":7},"email":"a@x.org"},"projection":{"_id":1},"limit":1,"singleBatch":true,` +
				`"collation":{"locale":"en","caseLevel":false,"caseFirst":"off","strength":2,"numericOrdering":false,"alternate":"non-ignorable","maxVariable":"punct","normalization":false,"backwards":false}}`},
	} {
		if got := bsontest.Ext(bsontest.Raw(t, holderFind("users", c.ix, key))); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
