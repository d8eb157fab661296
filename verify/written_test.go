package verify

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Written reads oplog entries in mongod's shapes (oplog_entry.idl,
// op_observer_impl.cpp; the transaction and batched-delete applyOps of
// op_observer_impl.cpp's logApplyOps and batched_write_context): which
// documents and counts an interval may have changed.
func TestWritten_EntryShapes(t *testing.T) {
	id := func(v any) bson.RawValue {
		typ, b, err := bson.MarshalValue(v)
		if err != nil {
			t.Fatal(err)
		}
		return bson.RawValue{Type: typ, Value: b}
	}
	type check struct {
		ns    string
		id    any // nil: the count
		moved bool
	}
	cases := []struct {
		name    string
		entries []string
		checks  []check
	}{
		{"insert names its document and the count", []string{`{"op":"i","ns":"a.b","o":{"_id":1,"x":1}}`},
			[]check{{"a.b", int32(1), true}, {"a.b", 1.0, true}, {"a.b", int64(1), true}, {"a.b", int32(2), false}, {"a.b", nil, true}, {"a.c", int32(1), false}, {"a.c", nil, false}}},
		{"update names its document by o2, not the count", []string{`{"op":"u","ns":"a.b","o":{"$v":2,"diff":{"u":{"x":2}}},"o2":{"_id":"k"}}`},
			[]check{{"a.b", "k", true}, {"a.b", "x", false}, {"a.b", nil, false}}},
		{"delete with a shard key", []string{`{"op":"d","ns":"a.b","o":{"_id":{"$oid":"650000000000000000000001"},"sk":3}}`},
			[]check{{"a.b", bson.ObjectID{0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, true}, {"a.b", nil, true}}},
		{"a no-op changes nothing", []string{`{"op":"n","ns":"a.b","o":{"msg":"periodic noop"}}`},
			[]check{{"a.b", int32(1), false}, {"a.b", nil, false}}},
		{"a transaction's applyOps names its documents", []string{`{"op":"c","ns":"admin.$cmd","o":{"applyOps":[{"op":"i","ns":"a.b","o":{"_id":7}},{"op":"u","ns":"a.c","o":{"$set":{"y":1}},"o2":{"_id":8}}],"partialTxn":true},"lsid":{"id":{"$binary":{"base64":"AAAAAAAAAAAAAAAAAAAAAA==","subType":"04"}}},"txnNumber":1}`},
			[]check{{"a.b", int32(7), true}, {"a.b", nil, true}, {"a.c", int32(8), true}, {"a.c", nil, false}, {"a.b", int32(8), false}}},
		{"an aborted transaction changes nothing", []string{`{"op":"c","ns":"admin.$cmd","o":{"abortTransaction":1}}`},
			[]check{{"a.b", int32(1), false}, {"a.b", nil, false}}},
		{"a prepared transaction's commit names nothing itself", []string{`{"op":"c","ns":"admin.$cmd","o":{"commitTransaction":1,"commitTimestamp":{"$timestamp":{"t":5,"i":1}}},"prevOpTime":{"ts":{"$timestamp":{"t":4,"i":9}},"t":{"$numberLong":"1"}}}`},
			[]check{{"a.b", int32(1), false}, {"z.z", nil, false}}},
		{"a commit without prevOpTime may change anything", []string{`{"op":"c","ns":"admin.$cmd","o":{"commitTransaction":1,"commitTimestamp":{"$timestamp":{"t":5,"i":1}}}}`},
			[]check{{"a.b", int32(1), true}, {"z.z", nil, true}}},
		{"its prepare entry, read through the link, names the documents", []string{`{"op":"c","ns":"admin.$cmd","o":{"applyOps":[{"op":"u","ns":"a.b","o":{"$set":{"y":1}},"o2":{"_id":3}}],"prepare":true},"prevOpTime":{"ts":{"$timestamp":{"t":0,"i":0}},"t":{"$numberLong":"-1"}}}`},
			[]check{{"a.b", int32(3), true}, {"a.b", int32(4), false}}},
		{"a command marks its collection", []string{`{"op":"c","ns":"a.$cmd","o":{"drop":"b"}}`},
			[]check{{"a.b", int32(1), true}, {"a.b", nil, true}, {"a.c", int32(1), false}}},
		{"a rename marks both names", []string{`{"op":"c","ns":"a.$cmd","o":{"renameCollection":"a.b","to":"a.d","stayTemp":false}}`},
			[]check{{"a.b", int32(1), true}, {"a.d", nil, true}, {"a.c", nil, false}}},
		{"dropDatabase marks its database", []string{`{"op":"c","ns":"a.$cmd","o":{"dropDatabase":1}}`},
			[]check{{"a.b", int32(1), true}, {"a.c", nil, true}, {"x.y", nil, false}, {"ab.c", nil, false}}},
		{"a container write changes no document", []string{`{"op":"ci","ns":"a.b","container":"idx","k":{"$binary":{"base64":"AA==","subType":"00"}},"o":{"x":1}}`},
			[]check{{"a.b", int32(1), false}, {"a.b", nil, false}}},
		{"an op it does not know may change anything", []string{`{"op":"xi","ns":"a.b","o":{"_id":1}}`},
			[]check{{"q.r", int32(1), true}}},
		{"a time-series bucket's write marks the collection read through", []string{`{"op":"u","ns":"a.system.buckets.w","o":{"$v":2,"diff":{"scontrol":{}}},"o2":{"_id":{"$oid":"650000000000000000000001"}}}`},
			[]check{{"a.w", int32(1), true}, {"a.w", nil, true}, {"a.x", nil, false}}},
		{"an insert without _id marks its collection", []string{`{"op":"i","ns":"a.b","o":{"x":1}}`},
			[]check{{"a.b", int32(9), true}, {"a.c", int32(9), false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w Written
			for _, e := range c.entries {
				w.Add(bsontest.JS(t, e))
			}
			for _, k := range c.checks {
				var got bool
				what := "count"
				if k.id == nil {
					got = w.Count(k.ns)
				} else {
					got = w.Doc(k.ns, id(k.id))
					what = id(k.id).String()
				}
				if got != k.moved {
					t.Errorf("%s %s: may have changed = %v, want %v", k.ns, what, got, k.moved)
				}
			}
		})
	}
}

// A transaction's entries link back by prevOpTime (oplog_entry.idl); the
// null optime (ts 0, t -1) ends the chain. Links hands each link out once.
func TestWritten_LinksOfTransactionEntries(t *testing.T) {
	var w Written
	w.Add(bsontest.JS(t, `{"op":"c","ns":"admin.$cmd","o":{"commitTransaction":1,"commitTimestamp":{"$timestamp":{"t":5,"i":1}}},"prevOpTime":{"ts":{"$timestamp":{"t":4,"i":9}},"t":{"$numberLong":"1"}}}`))
	w.Add(bsontest.JS(t, `{"op":"c","ns":"admin.$cmd","o":{"applyOps":[{"op":"i","ns":"a.b","o":{"_id":1}}]},"prevOpTime":{"ts":{"$timestamp":{"t":4,"i":2}},"t":{"$numberLong":"1"}}}`))
	w.Add(bsontest.JS(t, `{"op":"c","ns":"admin.$cmd","o":{"applyOps":[{"op":"i","ns":"a.b","o":{"_id":2}}],"partialTxn":true},"prevOpTime":{"ts":{"$timestamp":{"t":0,"i":0}},"t":{"$numberLong":"-1"}}}`))
	got := w.Links()
	want := []bson.Timestamp{{T: 4, I: 9}, {T: 4, I: 2}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("links %v, want %v", got, want)
	}
	if l := w.Links(); len(l) != 0 {
		t.Fatalf("links handed out again: %v", l)
	}
}
