package copier

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A collection created with a default collation lists it, in full, in its
// listCollections options, and its indexes list a collation only where it
// is not the simple one: an index built with {locale: "simple"}, or of a
// type that takes none (text, 2d, geoHaystack), lists none (mongodb/mongo
// src/mongo/db/catalog/index_key_validate.cpp, validateIndexSpecCollation;
// src/mongo/db/catalog/index_catalog_impl.cpp, r6.0/r7.0 _isSpecOk).
// createIndexes on the destination collection, created with the same
// options, would give such a spec the collection's collation (a text
// index: refused), so the copy spells the simple one out, and only there.
func TestForCreate_SimpleCollationOnACollatedCollection(t *testing.T) {
	fr := bson.D{{Key: "locale", Value: "fr"}, {Key: "caseLevel", Value: false}, {Key: "caseFirst", Value: "off"},
		{Key: "strength", Value: int32(3)}, {Key: "numericOrdering", Value: false}, {Key: "alternate", Value: "non-ignorable"},
		{Key: "maxVariable", Value: "punct"}, {Key: "normalization", Value: false}, {Key: "backwards", Value: false}, {Key: "version", Value: "57.1"}}
	opts, err := bson.Marshal(bson.D{{Key: "collation", Value: fr}})
	if err != nil {
		t.Fatal(err)
	}
	collated := &collection{options: opts}
	plain := &collection{}
	sku := bson.D{{Key: "key", Value: bson.D{{Key: "sku", Value: int32(1)}}}, {Key: "name", Value: "sku_1"}, {Key: "unique", Value: true}}
	text := bson.D{{Key: "key", Value: bson.D{{Key: "_fts", Value: "text"}, {Key: "_ftsx", Value: int32(1)}}}, {Key: "name", Value: "body_text"},
		{Key: "weights", Value: bson.D{{Key: "body", Value: int32(1)}}}, {Key: "default_language", Value: "english"},
		{Key: "language_override", Value: "language"}, {Key: "textIndexVersion", Value: int32(3)}}
	inherited := bson.D{{Key: "key", Value: bson.D{{Key: "name", Value: int32(1)}}}, {Key: "name", Value: "name_1"}, {Key: "collation", Value: fr}}
	simple := `{"locale":"simple"}`
	cases := []struct {
		coll *collection
		spec bson.D
		want string // the collation sent, "" for none
	}{
		{collated, sku, simple},
		{collated, text, simple},
		{collated, inherited, relaxed(fr)},
		{plain, sku, ""},
		{plain, text, ""},
	}
	for _, tc := range cases {
		got := ""
		if c := lookupD(tc.coll.forCreate(tc.spec), "collation"); c != nil {
			got = relaxed(c)
		}
		if got != tc.want {
			t.Errorf("%s on a collection with options %v: collation %q, want %q", specName(tc.spec), tc.coll.options, got, tc.want)
		}
	}
	if lookupD(sku, "collation") != nil {
		t.Error("forCreate changed the listed spec: the conflict checks compare it with the destination's listing")
	}
}
