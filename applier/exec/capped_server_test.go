package exec_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/status"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A capped collection holds its documents in insertion order and, once
// full, drops the oldest: inserts replayed over several workers in another
// order would, once it wraps, leave other documents than the source's. The
// executor sends every write to a capped collection through one worker, in
// oplog order: 200 inserts under shuffled _ids over 4 workers land in
// oplog order ($natural), into a capped collection that exists before the
// run and into one the run itself creates (its create command makes the
// executor look again); an ordinary collection is still spread.
func TestExecutor_CappedCollectionKeepsOplogOrder(t *testing.T) {
	ctx := context.Background()
	dst := testmongo.StartDest(t)
	db := dst.Client().Database("cap")
	if err := db.CreateCollection(ctx, "log", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<20)); err != nil {
		t.Fatal(err)
	}
	tr := translate.NewTranslator(nil)
	var ops []exec.Op
	seq := uint32(0)
	add := func(op, ns string, o bson.D) {
		t.Helper()
		seq++
		var err error
		if ops, err = tr.AppendOps(ops, uint64(seq), bson.Timestamp{T: 1700200000 + seq, I: 1}, bsontest.MustMarshal(t, entry(seq, op, ns, nil, o))); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	order := map[string][]int32{}
	inserts := func(coll string) {
		for _, id := range rng.Perm(200) {
			add("i", "cap."+coll, bson.D{{Key: "_id", Value: int32(id)}, {Key: "pad", Value: "p"}})
			order[coll] = append(order[coll], int32(id))
		}
	}
	inserts("log")
	add("c", "cap.$cmd", bson.D{{Key: "create", Value: "made"}, {Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 20)}})
	inserts("made")
	inserts("plain")

	x := &exec.Executor{Client: dst.Client(), Workers: 4, BulkSize: 10, Log: quietLog(), Rec: status.New("applying")}
	if err := x.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"log", "made"} {
		if got := testmongo.NaturalIDs(t, db.Collection(coll)); !slices.Equal(got, order[coll]) {
			t.Errorf("capped cap.%s in natural order: %v\nwant the oplog's: %v", coll, got, order[coll])
		}
	}
	// The ordinary collection is spread over the workers (nothing keeps its
	// order): all there.
	if n, err := db.Collection("plain").CountDocuments(ctx, bson.D{}); err != nil || n != 200 {
		t.Errorf("cap.plain holds %d documents (%v), want 200", n, err)
	}
}
