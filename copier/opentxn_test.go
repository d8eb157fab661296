package copier

import (
	"context"
	"sync"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/drivertest"
)

func ts(t uint32, i uint32) bson.Timestamp { return bson.Timestamp{T: t, I: i} }

// optime is a replication optime {ts, t} (mongodb/mongo
// src/mongo/db/repl/optime.h, protocol version 1).
func optime(at bson.Timestamp) bson.D {
	return bson.D{{Key: "ts", Value: at}, {Key: "t", Value: int64(3)}}
}

var (
	sessionID = bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}
	userHash  = bson.Binary{Subtype: 0, Data: make([]byte, 32)}
	lsid      = bson.D{{Key: "id", Value: sessionID}, {Key: "uid", Value: userHash}}
)

// session is a LogicalSessionId {id, uid} of its own for each n.
func session(n int64) bson.D {
	id := []byte("0123456789abcde0")
	id[15] = byte('a' + n)
	return bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id}}, {Key: "uid", Value: userHash}}
}

// txnRecord44 is a config.transactions record as 4.2-5.0 write it
// (mongodb/mongo src/mongo/db/session_txn_record.idl at r4.4.0: _id the
// LogicalSessionId {id, uid}, txnNum, lastWriteOpTime, lastWriteDate, state,
// startOpTime; src/mongo/db/op_observer_impl.cpp writes state inProgress
// with startOpTime at a large transaction's first partialTxn entry, prepared
// at its prepare). state "" leaves it out: a retryable write's record.
func txnRecord44(num int64, state string, start bson.Timestamp) bson.D {
	d := bson.D{{Key: "_id", Value: session(num)}, {Key: "txnNum", Value: num},
		{Key: "lastWriteOpTime", Value: optime(ts(start.T+5, 1))}, {Key: "lastWriteDate", Value: bson.DateTime(1700000000000)}}
	if state != "" {
		d = append(d, bson.E{Key: "state", Value: state})
	}
	if !start.IsZero() {
		d = append(d, bson.E{Key: "startOpTime", Value: optime(start)})
	}
	return d
}

// txnRecord60 is a record of an internal transaction (a retryable write
// run as a transaction) as 6.0 and 8.0 write it (mongodb/mongo
// src/mongo/db/session/session_txn_record.idl: parentLsid and
// txnRetryCounter added; the child session's _id carries the parent's
// txnNumber and a txnUUID; src/mongo/db/session/logical_session_id.idl).
func txnRecord60(state string, start bson.Timestamp) bson.D {
	child := bson.D{{Key: "id", Value: sessionID}, {Key: "uid", Value: userHash},
		{Key: "txnNumber", Value: int64(12)}, {Key: "txnUUID", Value: bson.Binary{Subtype: 4, Data: []byte("fedcba9876543210")}}}
	return bson.D{{Key: "_id", Value: child}, {Key: "parentLsid", Value: lsid}, {Key: "txnNum", Value: int64(0)},
		{Key: "txnRetryCounter", Value: int32(0)}, {Key: "lastWriteOpTime", Value: optime(ts(start.T+5, 1))},
		{Key: "lastWriteDate", Value: bson.DateTime(1700000000000)}, {Key: "state", Value: state}, {Key: "startOpTime", Value: optime(start)}}
}

func raws(t *testing.T, ds ...bson.D) []bson.Raw {
	var out []bson.Raw
	for _, d := range ds {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestOldestOpen_MongodShapes: among config.transactions records in the
// shapes 4.4, 6.0 and 8.0 write, the open one (prepared or inProgress) with
// the oldest startOpTime; committed, aborted and retryable-write records
// (no state) never count, whatever their startOpTime.
func TestOldestOpen_MongodShapes(t *testing.T) {
	cases := []struct {
		name    string
		records []bson.D
		want    bson.Timestamp // zero: none open
		state   string
	}{
		{"none", nil, bson.Timestamp{}, ""},
		{"4.4 inProgress", []bson.D{txnRecord44(5, "inProgress", ts(100, 2))}, ts(100, 2), "inProgress"},
		{"4.4 prepared older than inProgress", []bson.D{
			txnRecord44(5, "inProgress", ts(100, 2)), txnRecord44(6, "prepared", ts(90, 7)),
		}, ts(90, 7), "prepared"},
		{"same second: the increment decides", []bson.D{
			txnRecord44(5, "inProgress", ts(100, 9)), txnRecord44(6, "prepared", ts(100, 3)),
		}, ts(100, 3), "prepared"},
		{"committed, aborted and retryable writes are not open", []bson.D{
			txnRecord44(1, "committed", ts(10, 1)), txnRecord44(2, "aborted", ts(11, 1)),
			txnRecord44(3, "", ts(12, 1)), txnRecord44(4, "inProgress", ts(200, 1)),
		}, ts(200, 1), "inProgress"},
		{"only closed ones", []bson.D{txnRecord44(1, "committed", ts(10, 1)), txnRecord44(3, "", bson.Timestamp{})}, bson.Timestamp{}, ""},
		{"6.0/8.0 internal transaction prepared", []bson.D{
			txnRecord44(5, "inProgress", ts(100, 2)), txnRecord60("prepared", ts(99, 1)),
		}, ts(99, 1), "prepared"},
		{"open without startOpTime gives no start", []bson.D{txnRecord44(5, "inProgress", bson.Timestamp{})}, bson.Timestamp{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := OldestOpen(raws(t, c.records...))
			if err != nil {
				t.Fatal(err)
			}
			if ok != !c.want.IsZero() || got.Start != c.want || got.State != c.state {
				t.Fatalf("got %+v (found %v), want start %v state %q", got, ok, c.want, c.state)
			}
			if ok && got.Lsid.Lookup("id").String() == "" {
				t.Fatalf("the open transaction's session is missing: %+v", got)
			}
		})
	}
	if _, _, err := OldestOpen(raws(t, bson.D{{Key: "_id", Value: lsid}, {Key: "state", Value: "prepared"}, {Key: "startOpTime", Value: "x"}})); err == nil {
		t.Fatal("a startOpTime that is not an optime was accepted")
	}
}

// TestSpoolFrom: the spool starts at the oldest of T0, the newest entry
// read before the transactions table, and the oldest open transaction's
// first entry (mongodb/mongo src/mongo/db/repl/initial_syncer.cpp:
// beginFetchingOpTime is the oldest startOpTime, else the
// defaultBeginFetchingOpTime read before the query; never after
// beginApplyingTimestamp).
func TestSpoolFrom(t *testing.T) {
	open := func(at bson.Timestamp) *OpenTxn { return &OpenTxn{Start: at} }
	cases := []struct {
		name       string
		before, t0 bson.Timestamp
		open       *OpenTxn
		want       bson.Timestamp
	}{
		{"nothing open, nothing written between: T0", ts(100, 1), ts(100, 1), nil, ts(100, 1)},
		{"nothing open, writes between: before", ts(100, 1), ts(105, 1), nil, ts(100, 1)},
		{"a transaction open since before: its start", ts(100, 1), ts(105, 1), open(ts(60, 4)), ts(60, 4)},
		{"a transaction begun between before and the table's read: before", ts(100, 1), ts(105, 1), open(ts(102, 1)), ts(100, 1)},
		{"empty oplog before: T0", bson.Timestamp{}, ts(105, 1), nil, ts(105, 1)},
		{"empty oplog, no T0, open transaction: its start", bson.Timestamp{}, bson.Timestamp{}, open(ts(3, 1)), ts(3, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SpoolFrom(c.before, c.t0, c.open); got != c.want {
				t.Fatalf("SpoolFrom = %v, want %v", got, c.want)
			}
		})
	}
}

// TestPinStart_Replies drives PinStart with the replies of a 4.4 primary
// (hello's lastWrite.majorityOpTime: mongodb/mongo src/mongo/db/repl/
// replication_info.cpp, appendReplicationInfo; a find's cursor reply):
// hello, the transactions table, hello again, in that order; the table is
// read on the primary at read concern majority, filtered on the open states.
func TestPinStart_Replies(t *testing.T) {
	hello := func(major bson.Timestamp) bson.D {
		return bson.D{{Key: "isWritablePrimary", Value: true}, {Key: "setName", Value: "rs0"},
			{Key: "lastWrite", Value: bson.D{{Key: "opTime", Value: optime(major)}, {Key: "lastWriteDate", Value: bson.DateTime(1700000000000)},
				{Key: "majorityOpTime", Value: optime(major)}, {Key: "majorityWriteDate", Value: bson.DateTime(1700000000000)}}},
			{Key: "ok", Value: 1.0}}
	}
	find := func(docs ...bson.D) bson.D {
		batch := bson.A{}
		for _, d := range docs {
			batch = append(batch, d)
		}
		return bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: batch}, {Key: "id", Value: int64(0)},
			{Key: "ns", Value: "config.transactions"}}}, {Key: "ok", Value: 1.0}}
	}
	var mu sync.Mutex
	var sent []bson.Raw
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		sent = append(sent, append(bson.Raw(nil), e.Command...))
		mu.Unlock()
	}}
	opts := options.Client().SetMonitor(mon)
	opts.Deployment = drivertest.NewMockDeployment(hello(ts(100, 1)), //nolint:staticcheck // the driver's mock deployment
		find(txnRecord44(5, "inProgress", ts(80, 2)), txnRecord44(6, "prepared", ts(70, 1))), hello(ts(105, 1)))
	client, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	pin, err := PinStart(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if pin.T0 != ts(105, 1) || pin.From != ts(70, 1) || pin.Open == nil || pin.Open.TxnNum != 6 || pin.Open.State != "prepared" {
		t.Fatalf("pin %+v (open %+v), want T0 105,1 (the second hello), spool from 70,1 (the prepared transaction's start)", pin, pin.Open)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 3 {
		t.Fatalf("sent %d commands, want hello, find, hello", len(sent))
	}
	f := sent[1]
	if name := f.Index(0).Key(); name != "find" || f.Lookup("find").StringValue() != "transactions" || f.Lookup("$db").StringValue() != "config" {
		t.Fatalf("second command %s, want a find on config.transactions", f)
	}
	if lvl, _ := f.Lookup("readConcern", "level").StringValueOK(); lvl != "majority" {
		t.Errorf("config.transactions read at read concern %q, want majority: %s", lvl, f)
	}
	if in := f.Lookup("filter", "state", "$in").String(); in != `["prepared","inProgress"]` {
		t.Errorf("filter on state %s, want the open states prepared and inProgress", in)
	}
}

// TestPinStart_TestServer writes config.transactions records (an ordinary
// collection on the test server) whose startOpTime is an entry of the
// source's oplog: the spool starts at the open one's first entry, T0 is
// the newest entry; with none open, the spool starts at T0.
func TestPinStart_TestServer(t *testing.T) {
	srv := testmongo.StartSource(t)
	srv.RequireTestServer(t, "writes config.transactions to fake an open transaction; mongod owns that collection")
	src := srv.Client()
	ctx := context.Background()
	coll := src.Database("app").Collection("items")
	for i := 0; i < 6; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	var e struct {
		TS bson.Timestamp `bson:"ts"`
	}
	if err := src.Database("local").Collection("oplog.rs").FindOne(ctx, bson.D{{Key: "ns", Value: "app.items"}, {Key: "o._id", Value: 2}}).Decode(&e); err != nil {
		t.Fatal(err)
	}
	none, err := PinStart(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if none.Open != nil || none.From != none.T0 || none.T0.IsZero() {
		t.Fatalf("nothing open: pin %+v, want the spool from T0", none)
	}
	txns := src.Database("config").Collection("transactions")
	if _, err := txns.InsertMany(ctx, []any{txnRecord44(9, "committed", ts(1, 1)), txnRecord44(5, "inProgress", e.TS)}); err != nil {
		t.Fatalf("write config.transactions on the test server: %v", err)
	}
	pin, err := PinStart(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if pin.From != e.TS || pin.Open == nil || pin.Open.TxnNum != 5 || !e.TS.Before(pin.T0) {
		t.Fatalf("pin %+v (open %+v), want the spool from %v (the inProgress transaction's startOpTime) and T0 after it", pin, pin.Open, e.TS)
	}
}
