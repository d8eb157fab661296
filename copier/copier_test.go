package copier

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

func rv(v any) bson.RawValue {
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		panic(err)
	}
	return bson.RawValue{Type: t, Value: b}
}

func TestRangeTask_Filter(t *testing.T) {
	coll := &collection{bounds: []bson.RawValue{rv(int32(100)), rv(int32(200))}}
	cases := []struct {
		index int
		want  string
	}{
		{0, `{"_id":{"$lt":100}}`},
		{1, `{"_id":{"$gte":100,"$lt":200}}`},
		{2, `{"_id":{"$gte":200}}`},
	}
	for _, tc := range cases {
		b, _ := bson.MarshalExtJSON(rangeTask{coll: coll, index: tc.index}.filter(), false, false)
		if string(b) != tc.want {
			t.Errorf("range %d: %s, want %s", tc.index, b, tc.want)
		}
	}
	b, _ := bson.MarshalExtJSON(rangeTask{coll: &collection{}, index: 0}.filter(), false, false)
	if string(b) != `{}` {
		t.Errorf("one range: %s, want {}", b)
	}
}

func TestTypeClass_NumbersCompareAcrossTypes(t *testing.T) {
	if typeClass(bson.TypeInt32) != typeClass(bson.TypeDouble) || typeClass(bson.TypeInt64) != typeClass(bson.TypeDecimal128) {
		t.Error("numeric _ids of different BSON types must split together")
	}
	if typeClass(bson.TypeString) == typeClass(bson.TypeObjectID) || typeClass(bson.TypeInt32) == typeClass(bson.TypeString) {
		t.Error("different type brackets must not be split as one range")
	}
}

func TestOnlyDuplicates(t *testing.T) {
	// What RunCommand returns for an insert command's write errors.
	dup := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}, {Code: 11000}}}
	mixed := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}, {Code: 121}}}
	wce := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}}, WriteConcernError: &mongo.WriteConcernError{Code: 64}}
	if !onlyDuplicates(dup) {
		t.Error("duplicate _ids only: a resumed range, not an error")
	}
	if onlyDuplicates(mixed) || onlyDuplicates(wce) || onlyDuplicates(nil) {
		t.Error("another write error must not pass as a duplicate")
	}
}

func TestRun_RefusesUnacknowledgedWrites(t *testing.T) {
	c := &Copier{WriteConcern: writeconcern.Unacknowledged()}
	err := c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "w:0") {
		t.Fatalf("a w:0 destination was accepted: %v", err)
	}
}
