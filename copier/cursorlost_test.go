package copier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Replies of mongod that end a cursor, as the driver returns them (code,
// codeName, errmsg). Codes and the CursorInvalidatedError category:
// mongodb/mongo src/mongo/base/error_codes.yml. Messages:
// 175 src/mongo/db/exec/requires_collection_stage.cpp (doRestoreState),
// 43 src/mongo/db/cursor_manager.cpp ("cursor id N not found"),
// 237 src/mongo/db/operation_context.cpp (an operation killed with
// CursorKilled: "operation was interrupted"); 96 as 4.0's sort stage said
// it (src/mongo/db/exec/sort.cpp), an error a new attempt meets again.
var (
	errDropped   = mongo.CommandError{Code: 175, Name: "QueryPlanKilled", Message: "collection dropped. UUID 5e92ad3b-2a50-4e91-8ff2-090b0888aa92"}
	errRenamed   = mongo.CommandError{Code: 175, Name: "QueryPlanKilled", Message: "collection renamed from 'shop.orders' to 'shop.orders_v2'. UUID 5e92ad3b-2a50-4e91-8ff2-090b0888aa92"}
	errKilled    = mongo.CommandError{Code: 237, Name: "CursorKilled", Message: "operation was interrupted"}
	errNotFound  = mongo.CommandError{Code: 43, Name: "CursorNotFound", Message: "cursor id 1200610330 not found"}
	errOpFailed  = mongo.CommandError{Code: 96, Name: "OperationFailed", Message: "Executor error during find command :: caused by :: Sort operation used more than the maximum 33554432 bytes of RAM. Add an index, or specify a smaller limit."}
	errBadValue  = mongo.CommandError{Code: 2, Name: "BadValue", Message: "unknown operator: $foo"}
	errCappedPos = mongo.CommandError{Code: 136, Name: "CappedPositionLost", Message: "CollectionScan died due to position in capped collection being deleted"}
)

func TestCursorLost_MongodCodes(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{errDropped, true},
		{errRenamed, true},
		{errKilled, true},
		{errNotFound, true},
		{errOpFailed, false},
		{fmt.Errorf("read shop.orders range 0: %w", errNotFound), true},
		{fmt.Errorf("shop.orders: %w", errMoved), true},
		{errBadValue, false},
		{errCappedPos, false},
		{mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}}}, false},
		{context.Canceled, false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := cursorLost(tc.err); got != tc.want {
			t.Errorf("cursorLost(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// listOrders is the copier's view of shop.orders on src.
func listOrders(t *testing.T, c *Copier) *collection {
	t.Helper()
	colls, err := c.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, coll := range colls {
		if coll.srcNS == "shop.orders" {
			return coll
		}
	}
	t.Fatal("shop.orders not listed")
	return nil
}

// The range retry, fed mongod's replies for a cursor that died (175, 237,
// 43), reads the range again; any other error ends it at once.
func TestRetryLost_RetriesMongodCursorErrors(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	c := newCopier(t, src, dst)
	task := rangeTask{coll: listOrders(t, c)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	replies := []error{errRenamed, errKilled, errNotFound, nil}
	var attempts []int
	err := c.retryLost(ctx, task, func(_ context.Context, _ rangeTask, src *mongo.Collection, n int) error {
		if src.Name() != "orders" {
			t.Errorf("attempt %d read %s, want orders", n, src.Name())
		}
		attempts = append(attempts, n)
		return replies[len(attempts)-1]
	})
	if err != nil || len(attempts) != 4 {
		t.Fatalf("retryLost: %v after attempts %v, want success at the 4th", err, attempts)
	}

	for _, other := range []mongo.CommandError{errBadValue, errCappedPos} {
		calls := 0
		err = c.retryLost(ctx, task, func(context.Context, rangeTask, *mongo.Collection, int) error {
			calls++
			return fmt.Errorf("read shop.orders range 0: %w", other)
		})
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != other.Code || calls != 1 {
			t.Errorf("retryLost with %v: %v after %d attempts, want it returned after 1", other, err, calls)
		}
	}
}

// A collection dropped under the range (QueryPlanKilled, "collection
// dropped") leaves nothing to read: the range is done, without a second
// attempt, and the oplog replays the drop.
func TestRetryLost_DroppedCollectionMarksTheRangeDone(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	c := newCopier(t, src, dst)
	coll := listOrders(t, c)
	if coll.uuid == nil {
		t.Skip("the source reports no collection UUIDs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	err := c.retryLost(ctx, rangeTask{coll: coll}, func(ctx context.Context, _ rangeTask, src *mongo.Collection, _ int) error {
		calls++
		if err := src.Drop(ctx); err != nil {
			t.Fatal(err)
		}
		// Re-created by the workload: another collection under the name.
		insertDocs(t, src, bson.D{{Key: "_id", Value: 2}})
		return errDropped
	})
	if err != nil || calls != 1 {
		t.Fatalf("retryLost over a dropped collection: %v after %d attempts, want done after 1", err, calls)
	}
	if !c.Store.RangeDone("shop.orders", 0) {
		t.Error("the range of the dropped collection is not recorded as done")
	}
}

// killer kills the copy's cursor from another client once, at the range's
// first attempt, and records the attempts it saw.
type killer struct {
	t        *testing.T
	client   *mongo.Client
	mu       sync.Mutex
	attempts []int
}

func (k *killer) hook(ns string, index, attempt int, cursorID int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.attempts = append(k.attempts, attempt)
	if attempt != 1 {
		return
	}
	if cursorID == 0 {
		k.t.Errorf("%s range %d: the first batch exhausted the cursor; nothing to kill", ns, index)
		return
	}
	raw, err := k.client.Database("shop").RunCommand(context.Background(), bson.D{{Key: "killCursors", Value: "orders"},
		{Key: "cursors", Value: bson.A{cursorID}}}).Raw()
	if err != nil {
		k.t.Errorf("killCursors: %v", err)
		return
	}
	if killed, _ := raw.Lookup("cursorsKilled").Array().Values(); len(killed) != 1 {
		k.t.Errorf("killCursors %d: %s, want it killed", cursorID, raw)
	}
}

func orderDocs(n int) []bson.D {
	docs := make([]bson.D, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("o%04d", i)}, {Key: "qty", Value: i}}
	}
	return docs
}

// A cursor killed mid-range by another client (the server answers the
// next getMore with CursorNotFound) is read again, and the copy ends with
// every document: those already copied come back as duplicates.
func TestCopy_CursorKilledMidRangeIsRetried(t *testing.T) {
	source := testmongo.StartSource(t)
	src, dst := source.Client(), testmongo.StartDest(t).Client()
	insertDocs(t, src.Database("shop").Collection("orders"), orderDocs(300)...)
	c := newCopier(t, src, dst)
	k := &killer{t: t, client: source.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Run(withRangeHook(ctx, k.hook)); err != nil {
		t.Fatalf("copy with its cursor killed: %v", err)
	}
	if len(k.attempts) != 2 || k.attempts[1] != 2 {
		t.Errorf("attempts at the range: %v, want [1 2]", k.attempts)
	}
	n, err := dst.Database("shop").Collection("orders").CountDocuments(ctx, bson.D{})
	if err != nil || n != 300 {
		t.Fatalf("destination holds %d documents (%v), want 300", n, err)
	}
}

// A collection dropped and re-created by the workload while it is copied
// does not fail the copy: it is done (the oplog after T0 holds the drop,
// the create and every write to the new one), and the other collections
// are copied whole.
func TestCopy_CollectionDroppedAndRecreatedDuringItsCopy(t *testing.T) {
	source := testmongo.StartSource(t)
	src, dst := source.Client(), testmongo.StartDest(t).Client()
	insertDocs(t, src.Database("shop").Collection("orders"), orderDocs(300)...)
	insertDocs(t, src.Database("shop").Collection("customers"), orderDocs(20)...)
	if _, err := src.Database("shop").Collection("orders").Indexes().CreateOne(context.Background(),
		mongo.IndexModel{Keys: bson.D{{Key: "qty", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	writer := source.Client().Database("shop").Collection("orders")
	var attempts []int
	hook := func(ns string, index, attempt int, _ int64) {
		if ns != "shop.orders" {
			return
		}
		attempts = append(attempts, attempt)
		if attempt != 1 {
			return
		}
		if err := writer.Drop(context.Background()); err != nil {
			t.Errorf("drop: %v", err)
		}
		insertDocs(t, writer, bson.D{{Key: "_id", Value: "new"}})
	}
	c := newCopier(t, src, dst)
	c.Workers = 1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Run(withRangeHook(ctx, hook)); err != nil {
		t.Fatalf("copy with its collection dropped and re-created: %v", err)
	}
	if len(attempts) != 1 {
		t.Errorf("attempts at shop.orders: %v, want one (the collection was gone after it)", attempts)
	}
	if !c.Store.CollDone("shop.orders") || !c.Store.CollDone("shop.customers") {
		t.Error("a collection is not recorded as copied")
	}
	n, err := dst.Database("shop").Collection("customers").CountDocuments(ctx, bson.D{})
	if err != nil || n != 20 {
		t.Fatalf("destination shop.customers holds %d documents (%v), want 20", n, err)
	}
}

// A collection renamed within its database during its copy is followed by
// its UUID: the ranges that start after the rename read it under its new
// name, into the same destination namespace, and its indexes are built
// from it.
func TestCopy_CollectionRenamedDuringItsCopyIsFollowed(t *testing.T) {
	source := testmongo.StartSource(t)
	src, dst := source.Client(), testmongo.StartDest(t).Client()
	insertDocs(t, src.Database("shop").Collection("orders"), orderDocs(300)...)
	if _, err := src.Database("shop").Collection("orders").Indexes().CreateOne(context.Background(),
		mongo.IndexModel{Keys: bson.D{{Key: "qty", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	admin := source.Client().Database("admin")
	renamed := false
	hook := func(ns string, index, attempt int, _ int64) {
		if renamed {
			return
		}
		renamed = true
		if err := admin.RunCommand(context.Background(), bson.D{{Key: "renameCollection", Value: "shop.orders"},
			{Key: "to", Value: "shop.orders_v2"}}).Err(); err != nil {
			t.Errorf("rename: %v", err)
		}
	}
	c := newCopier(t, src, dst)
	c.Workers, c.SplitDocs, c.SplitAlways = 1, 100, true
	coll := listOrders(t, c)
	if coll.uuid == nil {
		t.Skip("the source reports no collection UUIDs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Run(withRangeHook(ctx, hook)); err != nil {
		t.Fatalf("copy with its collection renamed: %v", err)
	}
	specs, err := src.Database("shop").ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "orders_v2"}})
	if err != nil || len(specs) != 1 || specs[0].UUID == nil || string(specs[0].UUID.Data) != string(coll.uuid) {
		t.Skipf("the test server gave the renamed collection another UUID (%+v, %v): nothing to follow", specs, err)
	}
	if raw, _ := c.Store.Split("shop.orders"); len(raw) <= 5 {
		t.Fatalf("ranges %v: want the collection split", raw)
	}
	n, err := dst.Database("shop").Collection("orders").CountDocuments(ctx, bson.D{})
	if err != nil || n != 300 {
		t.Fatalf("destination shop.orders holds %d documents (%v), want 300", n, err)
	}
	idx, err := dst.Database("shop").Collection("orders").Indexes().ListSpecifications(ctx)
	if err != nil || len(idx) != 2 {
		t.Fatalf("destination shop.orders indexes %+v (%v), want _id_ and qty_1", idx, err)
	}
}

// A range read under a name the collection no longer holds (renamed after
// the copy looked it up, before its find) read nothing of it: that attempt
// is a lost cursor, not a copied range.
func TestCopyRangeFrom_ReadUnderAnOldNameIsNotCopied(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"), orderDocs(10)...)
	c := newCopier(t, src, dst)
	c.inflight = make(chan struct{}, 2)
	coll := listOrders(t, c)
	if coll.uuid == nil {
		t.Skip("the source reports no collection UUIDs")
	}
	if err := src.Database("admin").RunCommand(ctx, bson.D{{Key: "renameCollection", Value: "shop.orders"},
		{Key: "to", Value: "shop.orders_v2"}}).Err(); err != nil {
		t.Fatal(err)
	}
	err := c.copyRangeFrom(ctx, rangeTask{coll: coll}, coll.srcHandle, 1)
	if !cursorLost(err) {
		t.Fatalf("a range read from the old name: %v, want a lost cursor (errMoved)", err)
	}
	if c.Store.RangeDone("shop.orders", 0) {
		t.Fatal("a range read from the old name was recorded as copied")
	}
}
