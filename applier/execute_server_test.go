package applier

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/status"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A duplicate key in one partition stops the others between commands, not
// inside one: the client abandoning a command does not stop the server,
// which may apply it after the serial replay that follows has moved its
// documents on, putting them back into an older state. No command of the
// parallel attempt may end on a cancelled context.
func TestWrites_DuplicateKeyDoesNotAbandonOtherPartitions(t *testing.T) {
	dst := testmongo.StartDest(t)
	ctx := context.Background()
	var mu sync.Mutex
	var abandoned []string
	mon := &event.CommandMonitor{Failed: func(_ context.Context, e *event.CommandFailedEvent) {
		if errors.Is(e.Failure, context.Canceled) || strings.Contains(e.Failure.Error(), "context canceled") {
			mu.Lock()
			abandoned = append(abandoned, e.CommandName+": "+e.Failure.Error())
			mu.Unlock()
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(dst.URI).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	c := client.Database("test").Collection("coll")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	// The holder of x, deleted by the run after the insert that takes x:
	// the parallel attempt meets the duplicate, the serial one does not.
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "holder"}, {Key: "email", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	x := &Executor{Client: client, Workers: 2, BulkSize: 20, Log: quietLog(), Rec: status.New("applying")}
	tr := NewTranslator(nil)
	var ops []Op
	add := func(op string, o bson.D) {
		t.Helper()
		seq := uint64(len(ops) + 1)
		if ops, err = tr.AppendOps(ops, seq, bson.Timestamp{T: 1700300000, I: uint32(seq)}, mustMarshal(t, entry(uint32(seq), op, "test.coll", nil, o))); err != nil {
			t.Fatal(err)
		}
	}
	add("i", bson.D{{Key: "_id", Value: "taker"}, {Key: "email", Value: "x"}})
	conflict := x.hash.of("test.coll", ops[0].ID, x.Workers)
	// Bulky inserts in the other partition: it is inside a command when
	// the duplicate key comes back.
	pad := strings.Repeat("p", 8000)
	for i := 0; len(ops) < 400; i++ {
		add("i", bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}})
		if last := ops[len(ops)-1]; x.hash.of("test.coll", last.ID, x.Workers) == conflict {
			ops = ops[:len(ops)-1]
		}
	}
	add("d", bson.D{{Key: "_id", Value: "holder"}})
	start := time.Now()
	if err := x.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ops applied in %s", len(ops), time.Since(start))
	// The serial replay moved taker's key aside; the holder's delete, later
	// in the run, lets it back.
	if pending, err := x.Settle(ctx, true); err != nil || len(pending) > 0 {
		t.Fatalf("settle: %v, still pending: %v", err, pending)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(abandoned) > 0 {
		t.Errorf("commands abandoned mid-flight by the parallel attempt: %v", abandoned)
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != int64(len(ops)-1) {
		t.Errorf("%d documents (%v), want %d", n, err, len(ops)-1)
	}
	var taker bson.M
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "taker"}}).Decode(&taker); err != nil || taker["email"] != "x" {
		t.Errorf("taker: %v %v", taker, err)
	}
}
