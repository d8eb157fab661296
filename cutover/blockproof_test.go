package cutover

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/reader"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// syncFilter is what testsync.SyncSections selects: shop and crm.
func syncFilter(t *testing.T, src, dst string) (*config.Config, reader.Filter) {
	t.Helper()
	cfg, err := config.Load(testsync.WriteConfig(t, t.TempDir(), src, dst, testsync.SyncSections))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, reader.Filter{NS: cfg.Namespaces()}
}

// Read from the test server's real oplog: after a recorded position, only
// writes to the synced namespaces count; a position with nothing after it
// passes.
func TestUserWritesAfter_CountsSyncedNamespacesOnly(t *testing.T) {
	src := testmongo.StartSource(t)
	ctx := context.Background()
	_, f := syncFilter(t, src.URI, "mongodb://unused")
	c := src.Client()
	orders := c.Database("shop").Collection("orders")
	if _, err := orders.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	pos, err := newestOplogTS(ctx, c)
	if err != nil || pos.IsZero() {
		t.Fatalf("newest oplog entry: %v %v", pos, err)
	}
	if w, err := userWritesAfter(ctx, c, f, pos); err != nil || w.N != 0 {
		t.Fatalf("nothing after the position: %+v %v", w, err)
	}

	// Unselected: another database, and admin (which no test run drops:
	// this test drops what it made there).
	t.Cleanup(func() { c.Database("admin").Collection("things").Drop(context.Background()) })
	for _, ns := range [][2]string{{"other", "things"}, {"admin", "things"}} {
		if _, err := c.Database(ns[0]).Collection(ns[1]).InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if w, err := userWritesAfter(ctx, c, f, pos); err != nil || w.N != 0 {
		t.Fatalf("writes to unselected namespaces counted: %+v %v", w, err)
	}

	// Selected: an insert into crm.contacts, an update and a delete in
	// shop.orders.
	if _, err := c.Database("crm").Collection("contacts").InsertOne(ctx, bson.D{{Key: "_id", Value: "c1"}}); err != nil {
		t.Fatal(err)
	}
	firstSelected, err := newestOplogTS(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 2}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := orders.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Database("other").Collection("things").InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	w, err := userWritesAfter(ctx, c, f, pos)
	if err != nil {
		t.Fatal(err)
	}
	if w.N != 3 || !slices.Equal(w.NS, []string{"crm.contacts", "shop.orders"}) || w.First != firstSelected {
		t.Fatalf("after the position: %d writes to %v, first %v; want 3 to [crm.contacts shop.orders], first %v", w.N, w.NS, w.First, firstSelected)
	}
	// A position after them all passes again.
	end, err := newestOplogTS(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := userWritesAfter(ctx, c, f, end); err != nil || w.N != 0 {
		t.Fatalf("nothing after the newest entry: %+v %v", w, err)
	}
	// Without a critical-section entry after it (the test server has no
	// setUserWriteBlockMode), the block's position is the one before.
	if bp, err := blockPosition(ctx, c, pos); err != nil || bp != pos {
		t.Fatalf("block position without a critical-section entry: %v %v, want %v", bp, err, pos)
	}
}

// Entries in mongod's shapes that the test server's oplog does not hold.
// Each is built as mongod logs it:
//   - a transaction's commit, or applyOps run by hand: op c on admin.$cmd
//     with the writes in o.applyOps, each {op, ns, ui, o[, o2]}
//     (src/mongo/db/op_observer/op_observer_impl.cpp, logApplyOps and
//     onUnpreparedTransactionCommit; src/mongo/db/repl/oplog_entry.idl);
//     a large transaction's earlier entries carry partialTxn: true in o;
//   - a chunk migration's copy and the range deleter's delete: fromMigrate:
//     true (src/mongo/db/s/migration_destination_manager.cpp,
//     src/mongo/db/s/range_deletion_util.cpp);
//   - the block itself: an insert into config.user_writes_critical_sections
//     (src/mongo/db/s/user_writes_recoverable_critical_section_service.cpp);
//   - the periodic no-op of a replica set primary: op n, o.msg "periodic
//     noop" (src/mongo/db/repl/noop_writer.cpp).
func TestUserWriteNS_MongodShapes(t *testing.T) {
	_, f := syncFilter(t, "mongodb://unused", "mongodb://unused")
	ts := bson.Timestamp{T: 1700000000, I: 1}
	ui := bson.Binary{Subtype: 4, Data: make([]byte, 16)}
	crud := func(op, ns string, extra ...bson.E) bson.D {
		d := bson.D{{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "ui", Value: ui}, {Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}}
		if op == "u" {
			d[3].Value = bson.D{{Key: "$v", Value: 2}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "x", Value: 1}}}}}}
			d = append(d, bson.E{Key: "o2", Value: bson.D{{Key: "_id", Value: 1}}})
		}
		return append(d, extra...)
	}
	entry := func(d bson.D) bson.Raw {
		d = append(bson.D{{Key: "ts", Value: ts}, {Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)}}, d...)
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	applyOps := func(partial bool, ops ...bson.D) bson.D {
		arr := bson.A{}
		for _, o := range ops {
			arr = append(arr, o)
		}
		o := bson.D{{Key: "applyOps", Value: arr}}
		if partial {
			o = append(o, bson.E{Key: "partialTxn", Value: true})
		}
		return bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"}, {Key: "o", Value: o},
			{Key: "lsid", Value: bson.D{{Key: "id", Value: ui}}}, {Key: "txnNumber", Value: int64(3)},
			{Key: "prevOpTime", Value: bson.D{{Key: "ts", Value: bson.Timestamp{}}, {Key: "t", Value: int64(-1)}}}}
	}
	for _, tc := range []struct {
		name string
		e    bson.D
		want []string
	}{
		{"insert", crud("i", "shop.orders"), []string{"shop.orders"}},
		{"update", crud("u", "crm.contacts"), []string{"crm.contacts"}},
		{"delete", crud("d", "shop.orders"), []string{"shop.orders"}},
		{"unselected insert", crud("i", "other.things"), nil},
		{"transaction", applyOps(false, crud("i", "shop.orders"), crud("u", "other.things"), crud("d", "crm.contacts")),
			[]string{"shop.orders", "crm.contacts"}},
		{"partial transaction", applyOps(true, crud("i", "shop.orders")), []string{"shop.orders"}},
		{"transaction of unselected writes", applyOps(false, crud("i", "other.things")), nil},
		{"migration copy", crud("i", "shop.orders", bson.E{Key: "fromMigrate", Value: true}), nil},
		{"range deleter", crud("d", "shop.orders", bson.E{Key: "fromMigrate", Value: true}), nil},
		{"the block's own entry", crud("i", critSectionNS), nil},
		{"admin write", crud("i", "admin.system.users"), nil},
		{"local write", crud("i", "local.system.replset"), nil},
		{"periodic no-op", bson.D{{Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{{Key: "msg", Value: "periodic noop"}}}}, nil},
		{"drop", bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "shop.$cmd"}, {Key: "ui", Value: ui}, {Key: "o", Value: bson.D{{Key: "drop", Value: "orders"}}}}, nil},
		{"commitTransaction of a prepared transaction", bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"},
			{Key: "o", Value: bson.D{{Key: "commitTransaction", Value: 1}, {Key: "commitTimestamp", Value: ts}}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := userWriteNS(entry(tc.e), f); !slices.Equal(got, tc.want) {
				t.Fatalf("userWriteNS = %v, want %v", got, tc.want)
			}
		})
	}

	// On a replica set of its own, fromMigrate writes are a user's
	// cloneCollectionAsCapped copies (capped_utils.cpp: inserts with
	// fromMigrate true into the new capped collection): a user the block
	// did not stop, counted. A shard's are a migration's (above).
	rs := f
	rs.ReplicaSet = true
	copyIn := crud("i", "shop.orders_capped", bson.E{Key: "fromMigrate", Value: true})
	if got := userWriteNS(entry(copyIn), rs); !slices.Equal(got, []string{"shop.orders_capped"}) {
		t.Errorf("a replica set's cloneCollectionAsCapped copy after the block: %v, want it counted", got)
	}
	if got := userWriteNS(entry(copyIn), f); got != nil {
		t.Errorf("a shard's fromMigrate insert after the block: %v, want it left out (a migration's)", got)
	}
}

// The message says who writes, what to do, and what happens to the block.
func TestBypassError_Message(t *testing.T) {
	e := &BypassError{Block: bson.Timestamp{T: 10, I: 1}, bypassWrites: bypassWrites{N: 4, NS: []string{"shop.orders"}, First: bson.Timestamp{T: 11, I: 2}}}
	msg := e.Error()
	for _, want := range []string{"4 user writes", "shop.orders", "first at ts 11,2", "blocked at 10,1", "bypassWriteBlockingMode", "root, restore or __system", "db.currentOp", "stop that application", "unblocks the source's user writes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
