package exec_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
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
//
// The overlap is held, not hoped for: the other partition's first command
// waits (in the client, before it is written to the wire) until the run is
// stopped, and taker's command is not sent before that one has started. A
// command the stop abandons then fails on its cancelled context every time.
func TestWrites_DuplicateKeyDoesNotAbandonOtherPartitions(t *testing.T) {
	dst := testmongo.StartDest(t)
	ctx := context.Background()
	const hold = 30 * time.Second // a deadline for each held condition, never reached when it holds
	var mu sync.Mutex
	var abandoned, broken []string
	otherStarted, stopped := make(chan struct{}), make(chan struct{})
	var heldOnce, stopOnce sync.Once
	var armed atomic.Bool
	mon := &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName != "insert" || !armed.Load() {
				return // the setup's own
			}
			if strings.Contains(e.Command.String(), `"taker"`) {
				select {
				case <-otherStarted:
				case <-time.After(hold):
					mu.Lock()
					broken = append(broken, "the other partition sent no command")
					mu.Unlock()
				}
				return
			}
			heldOnce.Do(func() {
				close(otherStarted)
				select {
				case <-stopped:
				case <-time.After(hold):
					mu.Lock()
					broken = append(broken, "taker's duplicate key never stopped the run")
					mu.Unlock()
				}
			})
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			if errors.Is(e.Failure, context.Canceled) || strings.Contains(e.Failure.Error(), "context canceled") {
				mu.Lock()
				abandoned = append(abandoned, e.CommandName+": "+e.Failure.Error())
				mu.Unlock()
			}
		},
	}
	client := monitored(t, dst, mon)
	c := client.Database("test").Collection("coll")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	// The holder of x, deleted by the run after the insert that takes x:
	// the parallel attempt meets the duplicate, the serial one does not.
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "holder"}, {Key: "email", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	x := &exec.Executor{Client: client, Workers: 2, BulkSize: 20, Log: quietLog(), Rec: status.New("applying")}
	exec.SetRunStopped(x, func() { stopOnce.Do(func() { close(stopped) }) })
	tr := translate.NewTranslator(nil)
	var ops []exec.Op
	add := func(op string, o bson.D) {
		t.Helper()
		var err error
		seq := uint64(len(ops) + 1)
		if ops, err = tr.AppendOps(ops, seq, bson.Timestamp{T: 1700300000, I: uint32(seq)}, bsontest.MustMarshal(t, entry(uint32(seq), op, "test.coll", nil, o))); err != nil {
			t.Fatal(err)
		}
	}
	add("i", bson.D{{Key: "_id", Value: "taker"}, {Key: "email", Value: "x"}})
	conflict := exec.Partition("test.coll", ops[0].ID, x.Workers)
	// Inserts, all in the other partition: it has commands to send.
	for i := 0; len(ops) < 60; i++ {
		add("i", bson.D{{Key: "_id", Value: int32(i)}})
		if last := ops[len(ops)-1]; exec.Partition("test.coll", last.ID, x.Workers) == conflict {
			ops = ops[:len(ops)-1]
		}
	}
	add("d", bson.D{{Key: "_id", Value: "holder"}})
	armed.Store(true)
	if err := x.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	// The serial replay moved taker's key aside; the holder's delete, later
	// in the run, lets it back.
	if pending, err := x.Settle(ctx, true); err != nil || len(pending) > 0 {
		t.Fatalf("settle: %v, still pending: %v", err, pending)
	}
	mu.Lock()
	gaveUp, failed := abandoned, broken
	mu.Unlock() // the reads below are monitored too
	if len(failed) > 0 {
		t.Fatalf("the overlap was not held: %v", failed)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the run was never stopped: the duplicate key did not fail taker's partition")
	}
	if len(gaveUp) > 0 {
		t.Errorf("commands abandoned mid-flight by the parallel attempt: %v", gaveUp)
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != int64(len(ops)-1) {
		t.Errorf("%d documents (%v), want %d", n, err, len(ops)-1)
	}
	var taker bson.M
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "taker"}}).Decode(&taker); err != nil || taker["email"] != "x" {
		t.Errorf("taker: %v %v", taker, err)
	}
}

// A stop (Apply's context ending) sends nothing new, and a write command
// already sent is answered, not abandoned: the next run's replay must not
// race with it.
func TestApply_StopWaitsForCommandsInFlight(t *testing.T) {
	dst := testmongo.StartDest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var started int
	var abandoned []string
	mon := &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "insert" {
				mu.Lock()
				if started++; started == 1 {
					cancel() // the stop comes while the first insert is in flight
				}
				mu.Unlock()
			}
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			mu.Lock()
			abandoned = append(abandoned, e.CommandName+": "+e.Failure.Error())
			mu.Unlock()
		},
	}
	client := monitored(t, dst, mon)
	x := &exec.Executor{Client: client, Workers: 1, BulkSize: 50, Log: quietLog(), Rec: status.New("applying")}
	tr := translate.NewTranslator(nil)
	var ops []exec.Op
	var err error
	pad := strings.Repeat("p", 8000)
	for i := 0; i < 500; i++ {
		if ops, err = tr.AppendOps(ops, uint64(i+1), bson.Timestamp{T: 1700300000, I: uint32(i + 1)},
			bsontest.MustMarshal(t, entry(uint32(i+1), "i", "test.coll", nil, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}}))); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Apply(ctx, ops); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply after the stop: %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(abandoned) > 0 {
		t.Errorf("commands abandoned at the stop: %v", abandoned)
	}
	if started != 1 {
		t.Errorf("%d insert commands sent, want the one in flight at the stop", started)
	}
	n, err := client.Database("test").Collection("coll").CountDocuments(context.Background(), bson.D{})
	if err != nil || n != 50 {
		t.Errorf("%d documents (%v): want the 50 of the command in flight", n, err)
	}
}

// monitored connects to the server with a client that reports its commands
// to mon; it is closed at the end of the test.
func monitored(t *testing.T, s *testmongo.Server, mon *event.CommandMonitor) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}
