package update

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestApplyModifiers_OplogRules(t *testing.T) {
	for _, c := range []struct {
		name, doc, upd, want string
		nonViable            int
	}{
		{"set creates embedded documents", `{"_id": 1}`, `{"$set": {"a.b.c": 1}}`, `{"_id": 1, "a": {"b": {"c": 1}}}`, 0},
		{"set through a scalar is a no-op for that path only", `{"_id": 1, "a": 5}`, `{"$set": {"a.b": 1, "c": 2}}`, `{"_id": 1, "a": 5, "c": 2}`, 1},
		{"set through null is not viable", `{"_id": 1, "a": null}`, `{"$set": {"a.b": 1}}`, `{"_id": 1, "a": null}`, 1},
		{"set a field name on an array is not viable", `{"_id": 1, "a": [1, 2]}`, `{"$set": {"a.b": 1}}`, `{"_id": 1, "a": [1, 2]}`, 1},
		{"set an array element pads with nulls", `{"_id": 1, "a": [1]}`, `{"$set": {"a.3": 4}}`, `{"_id": 1, "a": [1, null, null, 4]}`, 0},
		{"set inside an array element document", `{"_id": 1, "a": [{"x": 1}]}`, `{"$set": {"a.0.y": 2}}`, `{"_id": 1, "a": [{"x": 1, "y": 2}]}`, 0},
		{"set through a null array element is not viable", `{"_id": 1, "a": [null]}`, `{"$set": {"a.0.y": 2}}`, `{"_id": 1, "a": [null]}`, 1},
		{"numeric name on a document is a field", `{"_id": 1, "a": {}}`, `{"$set": {"a.0": 2}}`, `{"_id": 1, "a": {"0": 2}}`, 0},
		{"unset removes, an array element becomes null", `{"_id": 1, "a": [1, 2], "b": 1}`, `{"$unset": {"a.0": true, "b": true}}`, `{"_id": 1, "a": [null, 2]}`, 0},
		{"unset through a scalar is a no-op", `{"_id": 1, "a": 5}`, `{"$unset": {"a.b": true, "z": true}}`, `{"_id": 1, "a": 5}`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, nv, err := ApplyModifiers(bsontest.ExtD(t, c.doc), bsontest.MustMarshal(t, bsontest.ExtD(t, c.upd)))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := bson.Raw(bsontest.MustMarshal(t, got)).String(), bson.Raw(bsontest.MustMarshal(t, bsontest.ExtD(t, c.want))).String(); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
			if nv != c.nonViable {
				t.Errorf("non-viable paths %d, want %d", nv, c.nonViable)
			}
		})
	}
}

func TestApplyModifiers_RefusesOtherOperators(t *testing.T) {
	if _, _, err := ApplyModifiers(bson.D{}, bsontest.MustMarshal(t, bsontest.ExtD(t, `{"$inc": {"a": 1}}`))); err == nil {
		t.Fatal("$inc accepted: oplog updates carry only $set and $unset")
	}
}

func TestApplyDiffPaths_MongodDiffRules(t *testing.T) {
	for _, c := range []struct {
		name, doc, upd, want string
		nonViable            int
	}{
		{"sub-diff of a missing field is a no-op", `{"_id": 1, "z": 1}`, `{"$set": {"a.b": 1, "z": 2}}`, `{"_id": 1, "z": 2}`, 1},
		{"sub-diff of a scalar sets it to null", `{"_id": 1, "a": 5}`, `{"$set": {"a.b": 1}}`, `{"_id": 1, "a": null}`, 1},
		{"array diff of a string sets it to null", `{"_id": 1, "arr": "flat"}`, `{"$set": {"arr.1": 9}}`, `{"_id": 1, "arr": null}`, 1},
		{"array element set, growing with nulls", `{"_id": 1, "arr": [1]}`, `{"$set": {"arr.2": 3}}`, `{"_id": 1, "arr": [1, null, 3]}`, 0},
		{"field set and unset inside a sub-document", `{"_id": 1, "a": {"x": 1, "y": 2}}`, `{"$set": {"a.x": 5}, "$unset": {"a.y": true}}`, `{"_id": 1, "a": {"x": 5}}`, 0},
		{"sub-diff of a missing array element is a no-op", `{"_id": 1, "arr": [{"k": 1}]}`, `{"$set": {"arr.3.k": 2}}`, `{"_id": 1, "arr": [{"k": 1}]}`, 1},
		{"top-level fields always apply", `{"_id": 1}`, `{"$set": {"n": 1}, "$unset": {"m": true}}`, `{"_id": 1, "n": 1}`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, nv, err := ApplyDiffPaths(bsontest.ExtD(t, c.doc), bsontest.MustMarshal(t, bsontest.ExtD(t, c.upd)))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := bson.Raw(bsontest.MustMarshal(t, got)).String(), bson.Raw(bsontest.MustMarshal(t, bsontest.ExtD(t, c.want))).String(); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
			if nv != c.nonViable {
				t.Errorf("paths not applied %d, want %d", nv, c.nonViable)
			}
		})
	}
}
