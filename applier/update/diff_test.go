package update

import (
	"errors"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func TestDiffToUpdate(t *testing.T) {
	cases := []struct {
		name      string
		diff      bson.D
		set, uns  string
		needsFull bool
	}{
		{"update and delete", bson.D{{Key: "d", Value: bson.D{{Key: "x", Value: false}}}, {Key: "u", Value: bson.D{{Key: "a", Value: 1}}}},
			`{"a":1}`, `{"x":true}`, false},
		{"nested object", bson.D{{Key: "sobj", Value: bson.D{{Key: "u", Value: bson.D{{Key: "b", Value: "v"}}}}}},
			`{"obj.b":"v"}`, `{}`, false},
		{"array elements", bson.D{{Key: "sarr", Value: bson.D{{Key: "a", Value: true}, {Key: "u2", Value: 7}, {Key: "s3", Value: bson.D{{Key: "u", Value: bson.D{{Key: "k", Value: 1}}}}}}}},
			`{"arr.2":7,"arr.3.k":1}`, `{}`, false},
		{"array truncation", bson.D{{Key: "sarr", Value: bson.D{{Key: "a", Value: true}, {Key: "l", Value: int32(2)}}}}, "", "", true},
		{"insert section keeps order", bson.D{{Key: "i", Value: bson.D{{Key: "z", Value: 1}}}}, "", "", true},
		{"literal dotted name", bson.D{{Key: "u", Value: bson.D{{Key: "a.b", Value: 1}}}}, "", "", true},
		{"dollar name", bson.D{{Key: "d", Value: bson.D{{Key: "$x", Value: false}}}}, "", "", true},
		{"binary patch", bson.D{{Key: "b", Value: bson.D{}}}, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sink Sink
			err := DiffToUpdate(bsontest.Raw(t, tc.diff), &sink)
			if tc.needsFull {
				if !errors.Is(err, ErrNeedsDocument) {
					t.Fatalf("got %v, want ErrNeedsDocument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			set, unset := elemsDoc(sink.Set), elemsDoc(sink.Unset)
			if bsontest.Ext(set) != tc.set || bsontest.Ext(unset) != tc.uns {
				t.Fatalf("set %s unset %s, want %s %s", bsontest.Ext(set), bsontest.Ext(unset), tc.set, tc.uns)
			}
		})
	}
	if err := DiffToUpdate(bsontest.Raw(t, bson.D{{Key: "q", Value: 1}}), &Sink{}); err == nil || errors.Is(err, ErrNeedsDocument) {
		t.Fatalf("unknown section: %v, want a malformed-diff error", err)
	}
}

// elemsDoc frames raw elements as a document.
func elemsDoc(elems []byte) bson.Raw {
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc, _ = bsoncore.AppendDocumentEnd(append(doc, elems...), idx)
	return doc
}

func TestApplyDiff(t *testing.T) {
	doc := bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 1}, {Key: "arr", Value: bson.A{1, 2, 3, 4}},
		{Key: "s", Value: "str"}, {Key: "bin", Value: bson.Binary{Subtype: 7, Data: []byte("abc")}}}
	diff := bson.D{
		{Key: "i", Value: bson.D{{Key: "a", Value: 9}}}, // moves a to the end
		{Key: "b", Value: bson.D{{Key: "bin", Value: bson.D{{Key: "o", Value: 3}, {Key: "d", Value: bson.Binary{Data: []byte("def")}}}}}}, // appends
		{Key: "sarr", Value: bson.D{{Key: "a", Value: true}, {Key: "l", Value: int32(2)}, {Key: "u4", Value: "x"}}},                       // truncate, then pad
		{Key: "ss", Value: bson.D{{Key: "u", Value: bson.D{{Key: "k", Value: 1}}}}},                                                       // wrong type: null
		{Key: "smissing", Value: bson.D{{Key: "u", Value: bson.D{{Key: "k", Value: 1}}}}},                                                 // missing: nothing
	}
	got, err := ApplyDiff(doc, diff)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_id":1,"arr":[1,2,null,null,"x"],"s":null,"bin":{"$binary":{"base64":"YWJjZGVm","subType":"07"}},"a":9}`
	if bsontest.Ext(got) != want {
		t.Fatalf("got  %s\nwant %s", bsontest.Ext(got), want)
	}
}
