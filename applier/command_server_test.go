package applier

import (
	"context"
	"sync"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A create logged with recordIdsReplicated (8.0+, behind a feature flag)
// reaches the destination without it: a server without the feature refuses
// the option. The test server accepts any option, so the test reads the
// command the client sent, not the server's answer.
func TestCommand_CreateLeavesOutRecordIdsReplicated(t *testing.T) {
	srv := testmongo.StartDest(t)
	var mu sync.Mutex
	var sent bson.Raw
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "create" {
			mu.Lock()
			sent = append(bson.Raw(nil), e.Command...)
			mu.Unlock()
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	entry, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700100910, I: 1}}, {Key: "t", Value: int64(1)},
		{Key: "op", Value: "c"}, {Key: "ns", Value: "test.$cmd"}, {Key: "o", Value: bson.D{
			{Key: "create", Value: "rid"}, {Key: "recordIdsReplicated", Value: true}, {Key: "capped", Value: false}}}})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := NewTranslator(nil).Translate(1, bson.Timestamp{T: 1700100910, I: 1}, entry)
	if err != nil || len(ops) != 1 || ops[0].Cmd == nil {
		t.Fatalf("translate create: %d ops (%v); want one command", len(ops), err)
	}
	if err := ops[0].Cmd(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sent == nil {
		t.Fatal("no create command sent")
	}
	if _, err := sent.LookupErr("recordIdsReplicated"); err == nil {
		t.Fatalf("create sent with recordIdsReplicated: %s", sent)
	}
	if c, _ := sent.Lookup("capped").BooleanOK(); c || sent.Lookup("capped").Type == 0 {
		t.Fatalf("create lost its other options: %s", sent)
	}
}
