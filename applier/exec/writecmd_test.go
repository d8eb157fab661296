package exec

import (
	"bytes"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

func idOf(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, data, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: data}
}

func TestCmdBuilder(t *testing.T) {
	doc := bsontest.Raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: "a"}})
	upd := bsontest.Raw(t, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: "b"}}}})
	dollar := bsontest.Raw(t, bson.D{{Key: "_id", Value: "E1"}, {Key: "$rooms", Value: bson.D{{Key: "br", Value: int32(2)}}}})
	wc, err := wirecmd.WriteConcern(writeconcern.Majority())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ops  []Op
		docs []bson.Raw
		wc   []byte
		want string
	}{
		{"inserts", []Op{{Kind: KindInsert, Doc: doc}, {Kind: KindInsert, Doc: doc}}, nil, nil,
			`{"insert":"c","ordered":false,"bypassDocumentValidation":true,"documents":[{"_id":1,"x":"a"},{"_id":1,"x":"a"}]}`},
		{"a replacement with top-level $ names goes through a pipeline, literally", []Op{{Kind: KindReplace, ID: idOf(t, "E1"), Doc: dollar}}, nil, nil,
			`{"update":"c","ordered":true,"bypassDocumentValidation":true,"updates":[{"q":{"_id":"E1"},"u":[{"$replaceWith":{"$literal":{"_id":"E1","$rooms":{"br":2}}}}],"upsert":true}]}`},
		{"a fetched replacement too", []Op{{Kind: KindReplace, ID: idOf(t, "E1")}}, []bson.Raw{dollar}, nil,
			`{"update":"c","ordered":true,"bypassDocumentValidation":true,"updates":[{"q":{"_id":"E1"},"u":[{"$replaceWith":{"$literal":{"_id":"E1","$rooms":{"br":2}}}}],"upsert":true}]}`},
		{"replace and update upsert by _id", []Op{{Kind: KindReplace, ID: idOf(t, int32(1)), Doc: doc}, {Kind: KindUpdate, ID: idOf(t, "k"), Doc: upd}}, nil, wc,
			`{"update":"c","ordered":true,"bypassDocumentValidation":true,"updates":[{"q":{"_id":1},"u":{"_id":1,"x":"a"},"upsert":true},{"q":{"_id":"k"},"u":{"$set":{"x":"b"}},"upsert":true}],"writeConcern":{"w":"majority"}}`},
		{"fetched document replaces Doc", []Op{{Kind: KindReplace, ID: idOf(t, int32(1))}}, []bson.Raw{doc}, nil,
			`{"update":"c","ordered":true,"bypassDocumentValidation":true,"updates":[{"q":{"_id":1},"u":{"_id":1,"x":"a"},"upsert":true}]}`},
		{"deletes", []Op{{Kind: KindDelete, ID: idOf(t, int32(1))}, {Kind: KindDelete, ID: idOf(t, bson.D{{Key: "a", Value: int32(2)}})}}, nil, nil,
			`{"delete":"c","ordered":true,"deletes":[{"q":{"_id":1},"limit":1},{"q":{"_id":{"a":2}},"limit":1}]}`},
	}
	// Reused across cases, as a worker reuses it, and with Bypass as the
	// Executor sets it on every builder (TestExecutor_WritesBypassValidation):
	// insert and update carry bypassDocumentValidation, delete has no such
	// field (wirecmd.TestBuilder_BypassDocumentValidation).
	b := wirecmd.Builder{Bypass: true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := build(&b, "c", tc.ops, tc.docs, tc.wc)
			if err := cmd.Validate(); err != nil {
				t.Fatalf("invalid BSON: %v", err)
			}
			if got := bsontest.Ext(cmd); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestRunLen(t *testing.T) {
	small := bsontest.Raw(t, bson.D{{Key: "_id", Value: 1}})
	ins := func(ns string) Op { return Op{NS: ns, Kind: KindInsert, Doc: small} }
	upd := Op{NS: "a.b", Kind: KindUpdate, Doc: small}
	fetch := Op{NS: "a.b", Kind: KindReplace, Fetch: func(bson.Raw) (bson.Raw, error) { return nil, nil }}
	big := Op{NS: "a.b", Kind: KindInsert, Doc: make(bson.Raw, 9<<20)}
	cases := []struct {
		name string
		ops  []Op
		bulk int
		want int
	}{
		{"same ns and class", []Op{ins("a.b"), ins("a.b"), ins("a.b")}, 10, 3},
		{"bulk size caps", []Op{ins("a.b"), ins("a.b"), ins("a.b")}, 2, 2},
		{"namespace ends the run", []Op{ins("a.b"), ins("a.c")}, 10, 1},
		{"class ends the run", []Op{ins("a.b"), upd}, 10, 1},
		{"replace and update share a command", []Op{{NS: "a.b", Kind: KindReplace, Doc: small}, upd}, 10, 2},
		{"a fetch goes alone", []Op{fetch, upd}, 10, 1},
		{"a fetch ends the run", []Op{upd, fetch}, 10, 1},
		{"bytes cap", []Op{big, big, big}, 10, 1},
	}
	for _, tc := range cases {
		if got := runLen(tc.ops, tc.bulk); got != tc.want {
			t.Errorf("%s: runLen = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestUpdateStatement: build's update statements are byte for byte
// wirecmd's, small (built in build) or large (left to wirecmd).
func TestUpdateStatement(t *testing.T) {
	ids := []bson.RawValue{idOf(t, int32(1)), idOf(t, "a string _id"), idOf(t, bson.NewObjectID()),
		idOf(t, bson.D{{Key: "a", Value: int64(2)}, {Key: "b", Value: "x"}}), idOf(t, bson.A{}), {Type: bson.TypeNull}}
	docs := []bson.Raw{
		bsontest.Raw(t, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: "b"}}}}),
		bsontest.Raw(t, bson.D{{Key: "$set", Value: bson.D{{Key: "a.1", Value: int32(1)}}}, {Key: "$unset", Value: bson.D{{Key: "b", Value: true}}}}),
		bsontest.Raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: "a"}}),
		bsontest.Raw(t, bson.D{{Key: "big", Value: string(make([]byte, 300))}}),
		bsontest.Raw(t, bson.D{}),
	}
	for _, id := range ids {
		for _, d := range docs {
			for _, k := range []Kind{KindUpdate, KindReplace} {
				if k == KindReplace && oplog.HasDollarKey(d) {
					continue // a pipeline (TestCmdBuilder)
				}
				for _, bypass := range []bool{true, false} {
					got, want := wirecmd.Builder{Bypass: bypass}, wirecmd.Builder{Bypass: bypass}
					ops := []Op{{Kind: k, ID: id, Doc: d}, {Kind: k, ID: id, Doc: d}}
					g := build(&got, "c", ops, nil, nil)
					if set, _ := g.Lookup("bypassDocumentValidation").BooleanOK(); set != bypass {
						t.Fatalf("Bypass %v: the command says bypassDocumentValidation %v: %s", bypass, set, g)
					}
					want.Begin("update", "c", "updates", true)
					want.Update(id, d)
					want.Update(id, d)
					if w := want.End(nil); !bytes.Equal(g, w) {
						t.Fatalf("id %v doc %v:\ngot  %x\nwant %x", id, d, g, w)
					}
				}
			}
		}
	}
}
