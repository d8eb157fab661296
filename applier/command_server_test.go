package applier

import (
	"context"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A create logged with recordIdsReplicated (8.0+, behind a feature flag)
// reaches the destination without it: a server without the feature refuses
// the option. The test server accepts any option, so the test reads the
// command the client sent, not the server's answer.
func TestCommand_CreateLeavesOutRecordIdsReplicated(t *testing.T) {
	client, sent := testmongo.StartDest(t).Recording("create")
	entry, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700100910, I: 1}}, {Key: "t", Value: int64(1)},
		{Key: "op", Value: "c"}, {Key: "ns", Value: "test.$cmd"}, {Key: "o", Value: bson.D{
			{Key: "create", Value: "rid"}, {Key: "recordIdsReplicated", Value: true}, {Key: "capped", Value: false}}}})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := translate.NewTranslator(nil).AppendOps(nil, 1, bson.Timestamp{T: 1700100910, I: 1}, entry)
	if err != nil || len(ops) != 1 || ops[0].Cmd == nil {
		t.Fatalf("translate create: %d ops (%v); want one command", len(ops), err)
	}
	if err := ops[0].Cmd(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	cmds := sent()
	if len(cmds) != 1 {
		t.Fatalf("%d create commands sent, want 1", len(cmds))
	}
	got := cmds[0]
	if name, _ := got.Lookup("create").StringValueOK(); name != "rid" || got.Lookup("capped").Type == 0 || got.Lookup("recordIdsReplicated").Type != 0 {
		t.Fatalf("sent %s; want create rid with capped, without recordIdsReplicated", got)
	}
}

// convertToCapped's create of its temporary collection, as mongod logs it
// (capped_utils.cpp cloneCollectionAsCapped: the source's options, capped,
// size and temp: true), reaches the destination without temp: mongod 6.0+
// refuses temp from a client that is not internal, mongos always
// (ddl.SourceStorageOption). The test server accepts it, so the test
// reads the command the client sent.
func TestCommand_CreateLeavesOutTemp(t *testing.T) {
	client, sent := testmongo.StartDest(t).Recording("create")
	entry, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700100910, I: 1}}, {Key: "t", Value: int64(1)},
		{Key: "op", Value: "c"}, {Key: "ns", Value: "test.$cmd"}, {Key: "o", Value: bson.D{
			{Key: "create", Value: "tmpAbC12.convertToCapped.c"}, {Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 20)},
			{Key: "temp", Value: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := translate.NewTranslator(nil).AppendOps(nil, 1, bson.Timestamp{T: 1700100910, I: 1}, entry)
	if err != nil || len(ops) != 1 || ops[0].Cmd == nil {
		t.Fatalf("translate create: %d ops (%v); want one command", len(ops), err)
	}
	if err := ops[0].Cmd(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	cmds := sent()
	if len(cmds) != 1 {
		t.Fatalf("%d create commands sent, want 1", len(cmds))
	}
	got := cmds[0]
	if name, _ := got.Lookup("create").StringValueOK(); name != "tmpAbC12.convertToCapped.c" || got.Lookup("capped").Type == 0 ||
		got.Lookup("size").Type == 0 || got.Lookup("temp").Type != 0 {
		t.Fatalf("sent %s; want the create with capped and size, without temp", got)
	}
}
