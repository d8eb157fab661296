package exec

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"github.com/mongo-sync/mongo-sync/sharding"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestShardedStatements_Commands(t *testing.T) {
	ranged := sharding.NewKey([]string{"k"})
	compound := sharding.NewKey([]string{"region", "n"})
	hashed := sharding.NewKey([]string{"h"}) // {h: "hashed"}: the query names the value; mongos hashes it
	dotted := sharding.NewKey([]string{"a.b"})
	withID := sharding.NewKey([]string{"x", "_id"})
	id := func(v any) bson.RawValue { return idOf(t, v) }
	set := bsontest.JS(t, `{"$set":{"y":2}}`)
	cases := []struct {
		name string
		k    *sharding.Key
		ops  []Op
		want string
	}{
		{"ranged: a replacement names the key from its document, never upserts", ranged,
			[]Op{{Kind: KindReplace, ID: id(1), Doc: bsontest.JS(t, `{"_id":1,"k":"a","y":1}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"k":"a"},"u":{"_id":1,"k":"a","y":1},"upsert":false}]}`},
		{"compound: every field in key order", compound,
			[]Op{{Kind: KindReplace, ID: id(1), Doc: bsontest.JS(t, `{"_id":1,"n":7,"region":"eu"}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"region":"eu","n":7},"u":{"_id":1,"n":7,"region":"eu"},"upsert":false}]}`},
		{"hashed: the field's value", hashed,
			[]Op{{Kind: KindReplace, ID: id("x"), Doc: bsontest.JS(t, `{"_id":"x","h":{"$numberLong":"5"}}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":"x","h":5},"u":{"_id":"x","h":5},"upsert":false}]}`},
		{"dotted: the nested value under the dotted name", dotted,
			[]Op{{Kind: KindReplace, ID: id(1), Doc: bsontest.JS(t, `{"_id":1,"a":{"b":"v","c":1}}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"a.b":"v"},"u":{"_id":1,"a":{"b":"v","c":1}},"upsert":false}]}`},
		{"a missing key field is null", compound,
			[]Op{{Kind: KindReplace, ID: id(1), Doc: bsontest.JS(t, `{"_id":1,"region":"eu"}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"region":"eu","n":null},"u":{"_id":1,"region":"eu"},"upsert":false}]}`},
		{"a dotted path through a scalar is null", dotted,
			[]Op{{Kind: KindReplace, ID: id(1), Doc: bsontest.JS(t, `{"_id":1,"a":3}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"a.b":null},"u":{"_id":1,"a":3},"upsert":false}]}`},
		{"a compound key with _id names _id once", withID,
			[]Op{{Kind: KindReplace, ID: id(1), Doc: bsontest.JS(t, `{"_id":1,"x":2}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"x":2},"u":{"_id":1,"x":2},"upsert":false}]}`},
		{"a modifier with its key unknown goes by _id without upsert", ranged,
			[]Op{{Kind: KindUpdate, ID: id(1), Doc: set}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1},"u":{"$set":{"y":2}},"upsert":false}]}`},
		{"a modifier with the key o2 logged (sharded source)", compound,
			[]Op{{Kind: KindUpdate, ID: id(1), Doc: set, Key: Logged(bsontest.JS(t, `{"_id":1,"region":"eu","n":7}`))}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"region":"eu","n":7},"u":{"$set":{"y":2}},"upsert":false}]}`},
		{"o2 logs a dotted key under its dotted name", dotted,
			[]Op{{Kind: KindUpdate, ID: id(1), Doc: set, Key: Logged(bsontest.JS(t, `{"_id":1,"a.b":"v"}`))}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"a.b":"v"},"u":{"$set":{"y":2}},"upsert":false}]}`},
		{"or nested", dotted,
			[]Op{{Kind: KindUpdate, ID: id(1), Doc: set, Key: Logged(bsontest.JS(t, `{"_id":1,"a":{"b":"v"}}`))}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1,"a.b":"v"},"u":{"$set":{"y":2}},"upsert":false}]}`},
		{"o2 that lacks a key field (other key fields on the source) goes by _id", compound,
			[]Op{{Kind: KindUpdate, ID: id(1), Doc: set, Key: Logged(bsontest.JS(t, `{"_id":1,"region":"eu"}`))}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":1},"u":{"$set":{"y":2}},"upsert":false}]}`},
		{"a replacement with top-level $ names goes through a literal pipeline", ranged,
			[]Op{{Kind: KindReplace, ID: id("E1"), Doc: bsontest.JS(t, `{"_id":"E1","k":1,"$r":2}`)}},
			`{"update":"c","ordered":true,"updates":[{"q":{"_id":"E1","k":1},"u":[{"$replaceWith":{"$literal":{"_id":"E1","k":1,"$r":2}}}],"upsert":false}]}`},
	}
	var b wirecmd.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := buildShardedUpdates(&b, "c", tc.ops, tc.k, nil)
			if err := cmd.Validate(); err != nil {
				t.Fatalf("invalid BSON: %v", err)
			}
			if got := bsontest.Ext(cmd); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestShardedStatements_Deletes(t *testing.T) {
	k := sharding.NewKey([]string{"region", "n"})
	ops := []Op{
		{Kind: KindDelete, ID: idOf(t, 1), Key: Logged(bsontest.JS(t, `{"_id":1,"region":"eu","n":7}`))}, // a sharded source's o
		{Kind: KindDelete, ID: idOf(t, 2)}, // a replica set's o: _id alone
	}
	var b wirecmd.Builder
	got := bsontest.Ext(buildShardedDeletes(&b, "c", ops, k, nil))
	want := `{"delete":"c","ordered":true,"deletes":[{"q":{"_id":1,"region":"eu","n":7},"limit":1},{"q":{"_id":2},"limit":1}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestShardKey_Touches(t *testing.T) {
	k := sharding.NewKey([]string{"a.b", "z"})
	cases := []struct {
		update string
		want   bool
	}{
		{`{"$set":{"y":1}}`, false},
		{`{"$set":{"z":1}}`, true},
		{`{"$unset":{"z":true}}`, true},
		{`{"$set":{"a":{"b":1}}}`, true}, // above the key
		{`{"$set":{"a.b.c":1}}`, true},   // inside it (a document-valued key)
		{`{"$set":{"a.bc":1}}`, false},   // a sibling that shares a prefix
		{`{"$set":{"y":1},"$unset":{"a.b":true}}`, true},
	}
	for _, tc := range cases {
		if got := touches(k, bsontest.JS(t, tc.update)); got != tc.want {
			t.Errorf("%s: touches = %v, want %v", tc.update, got, tc.want)
		}
	}
}

// TestPlanSettle covers the careful path's decisions: the current
// documents in, the writes out.
func TestPlanSettle(t *testing.T) {
	k := sharding.NewKey([]string{"k"})
	id := idOf(t, int32(1))
	cases := []struct {
		name string
		cur  string // the destination's document ("" when missing)
		ops  []Op
		want []string // q | doc | change
	}{
		{"a modifier on a missing document applies to {_id} and upserts by the resulting key", "",
			[]Op{{Kind: KindUpdate, ID: id, Doc: bsontest.JS(t, `{"$set":{"y":2}}`)}},
			[]string{`{"_id":1,"k":null} | {"_id":1,"y":2} | false`}},
		{"a modifier that sets the key: a key change by the old key", `{"_id":1,"k":"a","y":1}`,
			[]Op{{Kind: KindUpdate, ID: id, Doc: bsontest.JS(t, `{"$set":{"k":"b"}}`)}},
			[]string{`{"_id":1,"k":"a"} | {"_id":1,"k":"b","y":1} | true`}},
		{"a replacement under another key: a key change", `{"_id":1,"k":"a"}`,
			[]Op{{Kind: KindReplace, ID: id, Doc: bsontest.JS(t, `{"_id":1,"k":"b","z":3}`)}},
			[]string{`{"_id":1,"k":"a"} | {"_id":1,"k":"b","z":3} | true`}},
		{"the same key: an upsert by it", `{"_id":1,"k":"a"}`,
			[]Op{{Kind: KindReplace, ID: id, Doc: bsontest.JS(t, `{"_id":1,"k":"a","z":3}`)}},
			[]string{`{"_id":1,"k":"a"} | {"_id":1,"k":"a","z":3} | false`}},
		{"equal numbers are the same key", `{"_id":1,"k":1}`,
			[]Op{{Kind: KindReplace, ID: id, Doc: bsontest.JS(t, `{"_id":1,"k":1.0}`)}},
			[]string{`{"_id":1,"k":1.0} | {"_id":1,"k":1.0} | false`}},
		{"missing and null are the same key", `{"_id":1}`,
			[]Op{{Kind: KindReplace, ID: id, Doc: bsontest.JS(t, `{"_id":1,"k":null}`)}},
			[]string{`{"_id":1,"k":null} | {"_id":1,"k":null} | false`}},
		{"later statements see the earlier ones' result", `{"_id":1,"k":"a"}`,
			[]Op{{Kind: KindUpdate, ID: id, Doc: bsontest.JS(t, `{"$set":{"k":"b"}}`)}, {Kind: KindUpdate, ID: id, Doc: bsontest.JS(t, `{"$set":{"y":1}}`)}},
			[]string{`{"_id":1,"k":"a"} | {"_id":1,"k":"b"} | true`, `{"_id":1,"k":"b"} | {"_id":1,"k":"b","y":1} | false`}},
		{"a non-viable path is skipped, as in oplog application", `{"_id":1,"k":"a","s":5}`,
			[]Op{{Kind: KindUpdate, ID: id, Doc: bsontest.JS(t, `{"$set":{"s.t":1,"y":1}}`)}},
			[]string{`{"_id":1,"k":"a"} | {"_id":1,"k":"a","s":5,"y":1} | false`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := map[string]bson.Raw{}
			if tc.cur != "" {
				state[string(appendCanon(nil, id.Type, id.Value))] = bsontest.JS(t, tc.cur)
			}
			writes, err := planSettle(tc.ops, state, k)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range writes {
				got = append(got, bsontest.Ext(w.q)+" | "+bsontest.Ext(w.doc)+" | "+map[bool]string{true: "true", false: "false"}[w.change])
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("write %d:\ngot  %s\nwant %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}
