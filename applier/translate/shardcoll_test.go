package translate

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestTranslate_ShardCollectionNoop(t *testing.T) {
	noop := func(first string) bson.Raw {
		return bsontest.JS(t, `{"op":"n","ns":"app.orders","o":{"msg":{"`+first+`":"app.orders"}},"o2":{"`+first+`":"app.orders","shardKey":{"region":1,"h":"hashed"},"unique":false}}`)
	}
	tr := NewTranslator(nil)
	if ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, noop("shardCollection")); err != nil || len(ops) != 0 {
		t.Fatalf("without ShardCollections: %v %v", ops, err)
	}
	tr.ShardCollections = true
	ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, noop("shardCollection"))
	if err != nil || len(ops) != 1 || !ops[0].IsBarrier() || ops[0].Desc != "shardCollection app.orders" {
		t.Fatalf("got %+v %v", ops, err)
	}
	for _, phase := range []string{"shardCollectionPrepare", "shardCollectionAbort"} {
		if ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, noop(phase)); err != nil || len(ops) != 0 {
			t.Fatalf("%s: %v %v", phase, ops, err)
		}
	}
	if ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, bsontest.JS(t, `{"op":"n","ns":"","o":{"msg":"periodic noop"}}`)); err != nil || len(ops) != 0 {
		t.Fatalf("a periodic no-op: %v %v", ops, err)
	}
}
