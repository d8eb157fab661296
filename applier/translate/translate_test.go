package translate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func idOf(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, data, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: data}
}

func TestTranslate_PostImageSetIsReplacement(t *testing.T) {
	tr := NewTranslator(nil)
	e := bsontest.Raw(t, bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: "a.b"},
		{Key: "o", Value: bson.D{{Key: "$v", Value: 1}, {Key: "$set", Value: bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 2}}}}},
		{Key: "o2", Value: bson.D{{Key: "_id", Value: 1}}}})
	ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, e)
	if err != nil || len(ops) != 1 {
		t.Fatal(ops, err)
	}
	if ops[0].Kind != exec.KindReplace || bsontest.Ext(ops[0].Doc) != `{"_id":1,"x":2}` {
		t.Fatalf("a whole-document $set became kind %d %s, want a replacement", ops[0].Kind, bsontest.Ext(ops[0].Doc))
	}
	// A plain $set stays an update.
	e = bsontest.Raw(t, bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: "a.b"},
		{Key: "o", Value: bson.D{{Key: "$v", Value: 1}, {Key: "$set", Value: bson.D{{Key: "x", Value: 2}}}}},
		{Key: "o2", Value: bson.D{{Key: "_id", Value: 1}}}})
	ops, _ = tr.AppendOps(nil, 2, bson.Timestamp{T: 1}, e)
	if ops[0].Kind != exec.KindUpdate || bsontest.Ext(ops[0].Doc) != `{"$set":{"x":2}}` {
		t.Fatalf("plain $set became kind %d %s", ops[0].Kind, bsontest.Ext(ops[0].Doc))
	}
}

func TestTranslate_NamespacesAndProjection(t *testing.T) {
	c := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "src", RenameDB: "dst",
		Colls: []config.Coll{{Coll: "c", Fields: []string{"keep", "sub.k"}}}}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	tr := NewTranslator(c.Namespaces())
	ins := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "src.c"},
		{Key: "o", Value: bson.D{{Key: "_id", Value: 1}, {Key: "keep", Value: 1}, {Key: "drop", Value: 2}, {Key: "sub", Value: bson.D{{Key: "k", Value: 3}, {Key: "z", Value: 4}}}}}})
	ops, err := tr.AppendOps(nil, 1, bson.Timestamp{}, ins)
	if err != nil || len(ops) != 1 || ops[0].NS != "dst.c" {
		t.Fatalf("%v %v", ops, err)
	}
	if got := bsontest.Ext(ops[0].Doc); ops[0].Kind != exec.KindInsert || got != `{"_id":1,"keep":1,"sub":{"k":3}}` {
		t.Fatalf("projected insert %s", got)
	}
	upd := bsontest.Raw(t, bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: "src.c"},
		{Key: "o", Value: bson.D{{Key: "$v", Value: 2}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "drop", Value: 5}, {Key: "keep", Value: 6}}}}}}},
		{Key: "o2", Value: bson.D{{Key: "_id", Value: 1}}}})
	ops, _ = tr.AppendOps(nil, 2, bson.Timestamp{}, upd)
	if got := bsontest.Ext(ops[0].Doc); ops[0].Kind != exec.KindUpdate || got != `{"$set":{"keep":6}}` {
		t.Fatalf("projected update %s", got)
	}
	other := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "src.other"}, {Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}})
	if ops, _ := tr.AppendOps(nil, 3, bson.Timestamp{}, other); len(ops) != 0 {
		t.Fatal("an unselected collection produced writes")
	}
}

func TestTranslate_TransactionChainHoldsCheckpoint(t *testing.T) {
	tr := NewTranslator(nil)
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}
	entry := func(partial bool, id int) bson.Raw {
		o := bson.D{{Key: "applyOps", Value: bson.A{bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "a.b"}, {Key: "o", Value: bson.D{{Key: "_id", Value: id}}}}}}}
		if partial {
			o = append(o, bson.E{Key: "partialTxn", Value: true})
		}
		return bsontest.Raw(t, bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"}, {Key: "o", Value: o},
			{Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(5)}})
	}
	if ops, _ := tr.AppendOps(nil, 10, bson.Timestamp{}, entry(true, 1)); len(ops) != 0 || tr.PendingSince() != 10 {
		t.Fatalf("partial entry applied early or not tracked: %d ops, pending %d", len(ops), tr.PendingSince())
	}
	tr.AppendOps(nil, 11, bson.Timestamp{}, entry(true, 2))
	ops, err := tr.AppendOps(nil, 12, bson.Timestamp{}, entry(false, 3))
	if err != nil || len(ops) != 3 || tr.PendingSince() != 0 {
		t.Fatalf("commit: %d ops (%v), pending %d; want all 3 and none pending", len(ops), err, tr.PendingSince())
	}
}

func TestTranslate_BadEntries(t *testing.T) {
	tr := NewTranslator(nil)
	for name, e := range map[string]bson.D{
		"unknown op":     {{Key: "op", Value: "z"}, {Key: "ns", Value: "a.b"}, {Key: "o", Value: bson.D{}}},
		"update no o2":   {{Key: "op", Value: "u"}, {Key: "ns", Value: "a.b"}, {Key: "o", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}}},
		"insert no _id":  {{Key: "op", Value: "i"}, {Key: "ns", Value: "a.b"}, {Key: "o", Value: bson.D{{Key: "x", Value: 1}}}},
		"unknown cmd":    {{Key: "op", Value: "c"}, {Key: "ns", Value: "a.$cmd"}, {Key: "o", Value: bson.D{{Key: "frobnicate", Value: "b"}}}},
		"malformed diff": {{Key: "op", Value: "u"}, {Key: "ns", Value: "a.b"}, {Key: "o", Value: bson.D{{Key: "$v", Value: 2}, {Key: "diff", Value: bson.D{{Key: "q", Value: 1}}}}}, {Key: "o2", Value: bson.D{{Key: "_id", Value: 1}}}},
	} {
		_, err := tr.AppendOps(nil, 7, bson.Timestamp{T: 9, I: 2}, bsontest.Raw(t, e))
		var ee *exec.EntryError
		if !errors.As(err, &ee) || ee.Seq != 7 || ee.NS == "" {
			t.Errorf("%s: %v, want an EntryError naming seq 7 and the ns", name, err)
		}
	}
	// A command whose effect is not in the oplog says so, and what to do.
	e := bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "a.$cmd"}, {Key: "o", Value: bson.D{{Key: "importCollection", Value: "b"}}}}
	_, err := tr.AppendOps(nil, 7, bson.Timestamp{T: 9, I: 2}, bsontest.Raw(t, e))
	if err == nil || !strings.Contains(err.Error(), "importCollection on a.b cannot be replayed") || !strings.Contains(err.Error(), "copy the collection again") {
		t.Errorf("importCollection: %v; want why it cannot be replayed and what to do", err)
	}
}

// The catalog records shards keep for the cluster (7.0+ and later) are
// commands on a collection's or a database's namespace that change no data:
// no op, no error (not "unknown command"), with a catalog or without one.
func TestTranslate_ShardCatalogRecordsChangeNothing(t *testing.T) {
	for name, e := range map[string]bson.D{
		"modifyCollectionShardingIndexCatalog": {{Key: "op", Value: "c"}, {Key: "ns", Value: "shop.orders"}, {Key: "o", Value: bson.D{
			{Key: "modifyCollectionShardingIndexCatalog", Value: "shop.orders"}, {Key: "op", Value: bson.D{{Key: "type", Value: "i"}}}}}},
		"createDatabaseMetadata": {{Key: "op", Value: "c"}, {Key: "ns", Value: "shop.$cmd"}, {Key: "o", Value: bson.D{
			{Key: "createDatabaseMetadata", Value: "shop"}, {Key: "db", Value: bson.D{{Key: "_id", Value: "shop"}, {Key: "primary", Value: "rs0"}}}}}},
		"dropDatabaseMetadata": {{Key: "op", Value: "c"}, {Key: "ns", Value: "shop.$cmd"}, {Key: "o", Value: bson.D{{Key: "dropDatabaseMetadata", Value: "shop"}}}},
	} {
		withCatalog := NewTranslator(nil)
		withCatalog.Catalog = &memCatalog{m: map[string]string{string(uuid(0xc0)): "shop.orders"}}
		e = append(e, bson.E{Key: "ui", Value: bson.Binary{Subtype: 4, Data: uuid(0xc0)}})
		for _, tr := range []*Translator{NewTranslator(nil), withCatalog} {
			ops, err := tr.AppendOps(nil, 7, bson.Timestamp{T: 9, I: 2}, bsontest.Raw(t, e))
			if err != nil || len(ops) != 0 {
				t.Errorf("%s: %d ops (%v); want none, no error", name, len(ops), err)
			}
		}
	}
}

// TestUpdateDoc: the update document is the one bsoncore builds, with
// either part left out when empty.
func TestUpdateDoc(t *testing.T) {
	set := bsoncore.AppendInt32Element(bsoncore.AppendStringElement(nil, "a.b", "x"), "c", 1)
	unset := bsoncore.AppendBooleanElement(nil, "d", true)
	for _, tc := range []struct{ set, unset []byte }{{set, unset}, {set, nil}, {nil, unset}, {nil, nil}} {
		want := bsoncore.NewDocumentBuilder()
		if len(tc.set) > 0 {
			want.AppendDocument("$set", bsoncore.BuildDocument(nil, tc.set))
		}
		if len(tc.unset) > 0 {
			want.AppendDocument("$unset", bsoncore.BuildDocument(nil, tc.unset))
		}
		got := updateDoc(make([]byte, 0, updateDocLen(tc.set, tc.unset)), tc.set, tc.unset)
		if w := want.Build(); !bytes.Equal(got, w) || len(got) != updateDocLen(tc.set, tc.unset) {
			t.Fatalf("got %x, want %x", []byte(got), []byte(w))
		}
	}
}

// Container writes (ci, cu, cd) give no op and no error; the first of each
// kind in a run is logged, naming it.
func TestTranslate_ContainerWritesAreLoggedOncePerKind(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	tr := NewTranslator(nil)
	tr.Log = log
	for i, op := range []string{"ci", "ci", "cd", "ci", "cu", "cd"} {
		e := bson.D{{Key: "op", Value: op}, {Key: "container", Value: "index-1-2"}, {Key: "o", Value: bson.D{{Key: "k", Value: int64(i)}}}}
		ops, err := tr.AppendOps(nil, uint64(i+1), bson.Timestamp{T: 1, I: uint32(i + 1)}, bsontest.Raw(t, e))
		if err != nil || len(ops) != 0 {
			t.Fatalf("%s: %d ops, %v; want none and no error", op, len(ops), err)
		}
	}
	var logged []string
	for _, e := range hook.AllEntries() {
		logged = append(logged, fmt.Sprint(e.Data["op"]))
	}
	if strings.Join(logged, " ") != "ci cd cu" {
		t.Fatalf("logged %q, want the first ci, cd and cu once each", logged)
	}
}

func TestShardKey_Logged(t *testing.T) {
	id := idOf(t, int32(1))
	if got := loggedKey(bsontest.JS(t, `{"_id":1}`), id); got != nil {
		t.Fatalf("o2 of _id alone kept: %s", got)
	}
	if got := loggedKey(bsontest.JS(t, `{"_id":1,"k":2}`), id); got == nil {
		t.Fatal("o2 with a shard key dropped")
	}
	tr := NewTranslator(nil)
	for _, tc := range []struct {
		entry, key string
	}{
		{`{"op":"u","ns":"a.b","o":{"$v":2,"diff":{"u":{"y":1}}},"o2":{"_id":1,"k":"x"}}`, `{"_id":1,"k":"x"}`},
		{`{"op":"u","ns":"a.b","o":{"$v":2,"diff":{"u":{"y":1}}},"o2":{"_id":1}}`, `null`},
		{`{"op":"d","ns":"a.b","o":{"_id":1,"k":"x"}}`, `{"_id":1,"k":"x"}`},
		{`{"op":"d","ns":"a.b","o":{"_id":1}}`, `null`},
	} {
		ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1, I: 1}, bsontest.JS(t, tc.entry))
		if err != nil || len(ops) != 1 {
			t.Fatalf("%s: %v %v", tc.entry, ops, err)
		}
		got := "null"
		if ops[0].Key != nil {
			got = bsontest.Ext(*ops[0].Key)
		}
		if got != tc.key {
			t.Errorf("%s: Key = %s, want %s", tc.entry, got, tc.key)
		}
	}
}

type memCatalog struct{ m map[string]string }

func (c *memCatalog) Collections() (map[string]string, error) { return c.m, nil }
func (c *memCatalog) SetCollection(u []byte, ns string) error { c.m[string(u)] = ns; return nil }
func (c *memCatalog) DeleteCollection(u []byte) error         { delete(c.m, string(u)); return nil }

func uuid(b byte) []byte {
	u := make([]byte, 16)
	for i := range u {
		u[i] = b
	}
	return u
}

// TestTranslate_WriteOfACollectionDroppedOnAnotherShard: shard B is not
// the primary of sharded collection app.c: its drop reached B as a
// fromMigrate drop (mongodb/mongo src/mongo/db/s/drop_collection_coordinator.cpp,
// 5.0+: participants drop with fromMigrate true), which made B's catalog
// forget the old UUID; the primary shard dropped it plainly and created
// app.c anew. B replaying an insert of the old UUID by itself (--replay-from)
// finds app.c held elsewhere under the new UUID: the write is skipped, not
// applied into the new collection. Held elsewhere under its own UUID (the
// primary's drop not yet run), or by no shard, it is applied.
func TestTranslate_WriteOfACollectionDroppedOnAnotherShard(t *testing.T) {
	old, renewed := uuid(1), uuid(2)
	ins := bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "app.c"},
		{Key: "ui", Value: bson.Binary{Subtype: 4, Data: old}}, {Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}})
	for _, c := range []struct {
		name      string
		elsewhere [][]byte
		applied   bool
	}{
		{"held elsewhere under the new UUID", [][]byte{renewed}, false},
		{"held elsewhere under its own UUID", [][]byte{old}, true},
		{"held by no shard", nil, true},
	} {
		tr := NewTranslator(nil)
		tr.Catalog = &memCatalog{m: map[string]string{}}
		tr.Elsewhere = func(ns string) ([][]byte, error) {
			if ns != "app.c" {
				t.Fatalf("asked about %s", ns)
			}
			return c.elsewhere, nil
		}
		ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, ins)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(ops) == 1; got != c.applied {
			t.Errorf("%s: applied %v, want %v", c.name, got, c.applied)
		}
	}
}
