package copier

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
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

func TestReadDup(t *testing.T) {
	raw := func(d bson.D) bson.Raw { b, _ := bson.Marshal(d); return b }
	id := bson.D{{Key: "_id", Value: 1}}
	sku := bson.D{{Key: "sku", Value: 1}}
	cases := []struct {
		name string
		e    mongo.WriteError
		want dup
	}{
		{"MongoDB 4.4+, _id", mongo.WriteError{Code: 11000, Message: "E11000 duplicate key error collection: shop.orders index: _id_ dup key: { _id: 1 }",
			Raw: raw(bson.D{{Key: "keyPattern", Value: id}, {Key: "keyValue", Value: bson.D{{Key: "_id", Value: 1}}}})},
			dup{known: true, id: true, index: "_id_", key: `{"_id":1}`}},
		{"MongoDB 4.4+, unique secondary", mongo.WriteError{Code: 11000, Message: `E11000 duplicate key error collection: shop.orders index: sku_1 dup key: { sku: "a" }`,
			Raw: raw(bson.D{{Key: "keyPattern", Value: sku}, {Key: "keyValue", Value: bson.D{{Key: "sku", Value: "a"}}}})},
			dup{known: true, index: "sku_1", key: `{"sku":"a"}`}},
		{"keyPattern in errInfo, no index in the message", mongo.WriteError{Code: 11000, Message: "E11000 duplicate key error",
			Details: raw(bson.D{{Key: "keyPattern", Value: bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}}})},
			dup{known: true, index: `{"_id":1,"x":1}`}},
		{"message only, _id", mongo.WriteError{Code: 11000, Message: "E11000 duplicate key error collection: shop.orders index: _id_ dup key: { : 1 }"},
			dup{known: true, id: true, index: "_id_", key: "{ : 1 }"}},
		{"message only, secondary", mongo.WriteError{Code: 11000, Message: `E11000 duplicate key error collection: shop.orders index: sku_1 dup key: { : "a" }`},
			dup{known: true, index: "sku_1", key: `{ : "a" }`}},
		{"test server: nothing said", mongo.WriteError{Code: 11000, Message: "E11000 duplicate key error collection: shop.orders"}, dup{}},
	}
	for _, tc := range cases {
		if got := readDup(tc.e); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestSettleDuplicates_OtherErrorsStay(t *testing.T) {
	c := &Copier{}
	// What RunCommand returns for an insert command's write errors.
	mixed := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}, {Code: 121}}}
	wce := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}}, WriteConcernError: &mongo.WriteConcernError{Code: 64}}
	other := errors.New("boom")
	for _, err := range []error{mixed, wce, other} {
		if got := c.settleDuplicates(context.Background(), nil, nil, err); got == nil || got.Error() != err.Error() {
			t.Errorf("%v became %v", err, got)
		}
	}
	if err := c.settleDuplicates(context.Background(), nil, nil, nil); err != nil {
		t.Errorf("no error became %v", err)
	}
}

func TestInsertTail_BypassesValidation(t *testing.T) {
	for _, wc := range []*writeconcern.WriteConcern{nil, writeconcern.Majority()} {
		tail, err := insertTail(wc)
		if err != nil {
			t.Fatal(err)
		}
		var b wirecmd.Builder
		b.Begin("insert", "orders", "documents", false)
		doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: 1}})
		b.Insert(doc)
		cmd := b.End(tail)
		if err := cmd.Validate(); err != nil {
			t.Fatalf("command %s: %v", cmd, err)
		}
		if v, ok := cmd.Lookup("bypassDocumentValidation").BooleanOK(); !ok || !v {
			t.Errorf("insert command without bypassDocumentValidation: true: %s", cmd)
		}
		if _, ok := cmd.Lookup("writeConcern").DocumentOK(); ok != (wc != nil) {
			t.Errorf("write concern %v: command %s", wc, cmd)
		}
	}
}

func TestSourceReads_PrimaryMajority(t *testing.T) {
	var o options.CollectionOptions
	for _, set := range sourceReads().List() {
		if err := set(&o); err != nil {
			t.Fatal(err)
		}
	}
	if o.ReadPreference == nil || o.ReadPreference.Mode() != readpref.PrimaryMode {
		t.Errorf("source reads use read preference %v, want primary", o.ReadPreference)
	}
	if o.ReadConcern == nil || o.ReadConcern.Level != "majority" {
		t.Errorf("source reads use read concern %v, want majority", o.ReadConcern)
	}
}

func TestRun_RefusesUnacknowledgedWrites(t *testing.T) {
	c := &Copier{WriteConcern: writeconcern.Unacknowledged()}
	err := c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "w:0") {
		t.Fatalf("a w:0 destination was accepted: %v", err)
	}
}
