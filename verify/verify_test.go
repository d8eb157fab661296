package verify

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func doc(d bson.D) bson.Raw {
	b, err := bson.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSameDoc(t *testing.T) {
	a := doc(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: int32(1)}, {Key: "s", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 2}}}})
	reordered := doc(bson.D{{Key: "s", Value: bson.D{{Key: "y", Value: 2}, {Key: "x", Value: 1}}}, {Key: "a", Value: int32(1)}, {Key: "_id", Value: 1}})
	retyped := doc(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: int64(1)}, {Key: "s", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 2}}}})
	if !sameDoc(a, reordered) {
		t.Error("field order must not count as a difference")
	}
	if sameDoc(a, retyped) {
		t.Error("int32 1 and int64 1 are different values to keep")
	}
}

func TestCmpIDs_ServerOrder(t *testing.T) {
	cases := []struct {
		a, b any
		want int
	}{
		{int32(1), int64(2), -1}, {2.5, int32(2), 1}, {int32(3), int64(3), 0},
		{"a", "b", -1}, {int32(9), "a", -1}, {"z", bson.NewObjectID(), -1},
	}
	for _, tc := range cases {
		got := cmpIDs(doc(bson.D{{Key: "_id", Value: tc.a}}), doc(bson.D{{Key: "_id", Value: tc.b}}), true, true)
		if (got < 0) != (tc.want < 0) || (got > 0) != (tc.want > 0) {
			t.Errorf("cmp(%v, %v) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
	if cmpIDs(nil, doc(bson.D{{Key: "_id", Value: 1}}), false, true) <= 0 {
		t.Error("an exhausted source side sorts after the destination's")
	}
}
