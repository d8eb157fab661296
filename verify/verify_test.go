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
