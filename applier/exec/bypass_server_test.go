package exec_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/status"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Every insert and update command the Executor sends carries
// bypassDocumentValidation: true, on the parallel path and on the serial
// replay after a duplicate key: oplog application writes what the source
// holds, and a destination collection's validator (which older documents
// may break, or which the source added later) must not stop it, as it does
// not stop a secondary's application. MongoDB's manual lists the commands
// that take the field: insert, update, findAndModify, aggregate ($out,
// $merge), applyOps
// (https://www.mongodb.com/docs/manual/core/schema-validation/bypass-document-validation/);
// delete has no such field. The test server has no validators
// (NotImplemented), so the test reads the commands the client sent.
func TestExecutor_WritesBypassValidation(t *testing.T) {
	dst := testmongo.StartDest(t)
	ctx := context.Background()
	client, sent := dst.Recording("insert", "update", "delete")
	c := client.Database("test").Collection("coll")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	// The holder of x, deleted later in the run than the insert that takes
	// x: the parallel attempt meets a duplicate key, the serial replay
	// sends the run again one statement at a time.
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "holder"}, {Key: "email", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "k1"}, {Key: "v", Value: int32(0)}}); err != nil {
		t.Fatal(err)
	}
	setup := len(sent()) // the setup's own inserts

	x := &exec.Executor{Client: client, Workers: 2, BulkSize: 20, Log: quietLog(), Rec: status.New("applying")}
	tr := translate.NewTranslator(nil)
	var ops []exec.Op
	add := func(op string, o2, o bson.D) {
		t.Helper()
		var err error
		seq := uint64(len(ops) + 1)
		e := entry(uint32(seq), op, "test.coll", nil, o)
		if o2 != nil {
			e = append(e, bson.E{Key: "o2", Value: o2})
		}
		if ops, err = tr.AppendOps(ops, seq, bson.Timestamp{T: 1700400000, I: uint32(seq)}, bsontest.MustMarshal(t, e)); err != nil {
			t.Fatal(err)
		}
	}
	add("i", nil, bson.D{{Key: "_id", Value: "taker"}, {Key: "email", Value: "x"}})
	add("i", nil, bson.D{{Key: "_id", Value: "k1"}, {Key: "v", Value: int32(1)}}) // exists: replaced
	for i := 2; i < 8; i++ {
		add("i", nil, bson.D{{Key: "_id", Value: "k" + string(rune('0'+i))}, {Key: "v", Value: int32(i)}})
	}
	add("u", bson.D{{Key: "_id", Value: "k2"}}, bson.D{{Key: "$v", Value: int32(1)}, {Key: "$set", Value: bson.D{{Key: "v", Value: int32(20)}}}})
	add("u", bson.D{{Key: "_id", Value: "k3"}}, bson.D{{Key: "_id", Value: "k3"}, {Key: "v", Value: int32(30)}})
	add("d", nil, bson.D{{Key: "_id", Value: "k4"}})
	add("d", nil, bson.D{{Key: "_id", Value: "holder"}})
	if err := x.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if pending, err := x.Settle(ctx, true); err != nil || len(pending) > 0 {
		t.Fatalf("settle: %v, still pending: %v", err, pending)
	}

	cmds := sent()[setup:]
	byName := map[string]int{}
	takerSent := 0
	for _, cmd := range cmds {
		name := cmd.Index(0).Key()
		byName[name]++
		v, err := cmd.LookupErr("bypassDocumentValidation")
		if name == "delete" {
			if err == nil {
				t.Errorf("delete with bypassDocumentValidation (delete has no such field): %s", cmd)
			}
			continue
		}
		if set, ok := v.BooleanOK(); err != nil || !ok || !set {
			t.Errorf("%s without bypassDocumentValidation: true: %s", name, cmd)
		}
		if strings.Contains(cmd.String(), `"taker"`) {
			takerSent++
		}
	}
	if byName["insert"] == 0 || byName["update"] == 0 || byName["delete"] == 0 {
		t.Errorf("commands sent: %v; want inserts, updates and deletes", byName)
	}
	if takerSent < 2 {
		t.Errorf("taker's insert sent %d times: the serial replay after the duplicate key did not run", takerSent)
	}
	var k2 struct{ V int32 }
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "k2"}}).Decode(&k2); err != nil || k2.V != 20 {
		t.Errorf("k2: %+v %v; want v 20", k2, err)
	}
}
