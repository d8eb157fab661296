package verify

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// verify --live under a source that changes a document and changes it back
// while the destination lags by one write (A, B, A on the source, B on the
// destination, in every round): the two reads of the source agree, and only
// the source's oplog tells that the document moved. It is reported as
// still changing, not as a difference; a document edited on the
// destination and left alone on the source is reported in the first round.
// Before verify read the oplog, the cycled document was reported as
// different after three such rounds: make test-real's hostile workload
// deletes a numeric _id and re-inserts it in another type, and a document
// re-inserted in its earlier type is byte for byte what it was, so under a
// destination 9 s behind verify --live reported a difference the sync did
// not have (1 of 4 runs).
func TestLiveVerify_ChangedAndChangedBackIsNotADifference(t *testing.T) {
	ctx := context.Background()
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	sc, dc := src.Client().Database("lv").Collection("c"), dst.Client().Database("lv").Collection("c")
	insert := func(c *mongo.Collection, docs ...bson.D) {
		t.Helper()
		for _, d := range docs {
			if _, err := c.InsertOne(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	doc := func(id string, v any) bson.D { return bson.D{{Key: "_id", Value: id}, {Key: "v", Value: v}} }
	set := func(c *mongo.Collection, id string, v any) {
		t.Helper()
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: v}}}}); err != nil {
			t.Fatal(err)
		}
	}
	insert(sc, doc("cycled", "A"), doc("edited", 1), doc("steady", 1))
	insert(dc, doc("cycled", "B"), doc("edited", "by hand"), doc("steady", 1))

	settles := 0
	settle := func(ctx context.Context) error {
		settles++
		set(sc, "cycled", "B")
		set(sc, "cycled", "A")
		return nil
	}
	v := &Verifier{Src: src.Client(), Dst: dst.Client(), NS: allNamespaces(), Show: 10,
		Live: &Live{Settle: settle, Watch: WatchOplogs([]*mongo.Client{src.Client()}), Rounds: 4}}
	res, err := v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("results: %+v", res)
	}
	r := res[0]
	t.Logf("%d settles; %+v", settles, r)
	if r.DifferN != 1 || !reflect.DeepEqual(r.Differ, []string{`"edited"`}) || r.MissingN != 0 || r.ExtraN != 0 {
		t.Errorf("differences: %d %v (missing %d, extra %d); want only \"edited\", the document edited on the destination", r.DifferN, r.Differ, r.MissingN, r.ExtraN)
	}
	if r.UnsettledN != 1 || !reflect.DeepEqual(r.Unsettled, []string{`"cycled"`}) {
		t.Errorf("still changing: %d %v; want \"cycled\", changed and changed back in every round", r.UnsettledN, r.Unsettled)
	}
}

// The counts of a sampled live comparison (counts; the test server has no
// $sample): a source that deletes a document and inserts it again between
// two counts, the destination holding the delete only, counts the same
// twice; the oplog tells it moved, so no count difference is reported.
// Once the source stops, the same destination's count is reported.
func TestLiveVerify_CountThatMovedAndCameBackIsNotADifference(t *testing.T) {
	ctx := context.Background()
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	sc, dc := src.Client().Database("lv").Collection("n"), dst.Client().Database("lv").Collection("n")
	for _, c := range []*mongo.Collection{sc, dc} {
		for _, id := range []string{"a", "b", "c"} {
			if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	churn := func(ctx context.Context) error {
		c := bson.D{{Key: "_id", Value: "c"}}
		if _, err := sc.DeleteOne(ctx, c); err != nil {
			return err
		}
		if _, err := sc.InsertOne(ctx, c); err != nil {
			return err
		}
		_, err := dc.DeleteOne(ctx, c)
		return err
	}
	count := func(settle func(context.Context) error) Result {
		t.Helper()
		v := &Verifier{Src: src.Client(), Dst: dst.Client(), NS: allNamespaces(), Show: 10,
			Live: &Live{Settle: settle, Watch: WatchOplogs([]*mongo.Client{src.Client()}), Rounds: 3}}
		r := Result{Src: "lv.n", Dst: "lv.n"}
		if err := v.counts(ctx, v.source("lv", "n"), dc, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := count(churn)
	t.Logf("under the churn: %+v", r)
	if r.CountProblem != "" || r.UnsettledN != 1 {
		t.Errorf("under a source that deletes and re-inserts: count problem %q, unsettled %d; want none, and the count noted as still changing", r.CountProblem, r.UnsettledN)
	}
	r = count(func(context.Context) error { return nil })
	t.Logf("once the source stopped: %+v", r)
	if want := "document count differs: source 3, destination 2"; r.CountProblem != want {
		t.Errorf("a still source: count problem %q, want %q", r.CountProblem, want)
	}
}

// The oplog read of a re-check round, on crafted entries in mongod's shapes
// (oplog_entry.idl: prevOpTime links a transaction's entries; the null
// optime ends the chain): a prepared transaction whose prepare entry lies
// before the round's mark and whose commitTransaction lies in it names the
// documents the prepare entry wrote, read through the link. An oplog that
// no longer holds the mark is an error, not an interval read from its new
// oldest entry.
func TestWatchOplogs_FollowsCommitsAndRefusesALostMark(t *testing.T) {
	ctx := context.Background()
	src := testmongo.StartSource(t)
	src.RequireTestServer(t, "inserts crafted entries into local.oplog.rs, which a replica set forbids")
	oplogColl := src.Client().Database("local").Collection("oplog.rs")
	// The test server logs each insert into its oplog as an entry of its
	// own, stamped by its clock: a crafted entry's ts is taken just past
	// the newest entry, so that it sorts where the test needs it.
	newest := func() bson.Timestamp {
		t.Helper()
		raw, err := oplogColl.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Raw()
		if err != nil {
			t.Fatal(err)
		}
		tt, ti, _ := raw.Lookup("ts").TimestampOK()
		return bson.Timestamp{T: tt, I: ti}
	}
	add := func(d bson.D) {
		t.Helper()
		if _, err := oplogColl.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	next := func() bson.Timestamp { n := newest(); return bson.Timestamp{T: n.T, I: n.I + 1} }
	null := bson.D{{Key: "ts", Value: bson.Timestamp{}}, {Key: "t", Value: int64(-1)}}
	prepared := next()
	add(bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"}, {Key: "ts", Value: prepared},
		// (an insert: the test server refuses the $set of an update entry
		// inside a document it stores)
		{Key: "o", Value: bson.D{{Key: "applyOps", Value: bson.A{bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "lv.t"},
			{Key: "o", Value: bson.D{{Key: "_id", Value: "prepared"}, {Key: "y", Value: 1}}}}}},
			{Key: "prepare", Value: true}}},
		{Key: "prevOpTime", Value: null}})

	watch := WatchOplogs([]*mongo.Client{src.Client()})
	since, err := watch(ctx) // the mark: past the prepare entry
	if err != nil {
		t.Fatal(err)
	}
	commit := next()
	add(bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"}, {Key: "ts", Value: commit},
		{Key: "o", Value: bson.D{{Key: "commitTransaction", Value: 1}, {Key: "commitTimestamp", Value: commit}}},
		{Key: "prevOpTime", Value: bson.D{{Key: "ts", Value: prepared}, {Key: "t", Value: int64(1)}}}})
	w, err := since(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) bson.RawValue { return bson.RawValue{Type: bson.TypeString, Value: bsoncoreString(s)} }
	if !w.Doc("lv.t", id("prepared")) || w.Doc("lv.t", id("other")) || !w.Count("lv.t") || w.Count("lv.u") {
		t.Errorf("a commit in the round of a transaction prepared before it: prepared %v, other %v, count %v, another collection's count %v; want true, false, true, false",
			w.Doc("lv.t", id("prepared")), w.Doc("lv.t", id("other")), w.Count("lv.t"), w.Count("lv.u"))
	}

	// The mark rolls off the oplog before the round's read.
	since, err = watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oplogColl.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lte", Value: newest()}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := since(ctx); err == nil || !strings.Contains(err.Error(), "rolled over during verify --live") {
		t.Fatalf("a round whose mark left the oplog: %v; want an error saying it rolled over", err)
	}
}

// bsoncoreString is s as a BSON string value's bytes.
func bsoncoreString(s string) []byte {
	_, b, _ := bson.MarshalValue(s)
	return b
}
