package verify

import (
	"context"
	"reflect"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
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
