package copier

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A capped collection is copied in its insertion order: once full it
// removes the oldest documents, so a copy in another order would, once the
// destination wraps, hold other documents than the source. 600 documents
// inserted under shuffled _ids, a copier that would split them into 12
// ranges of 10-document batches over 4 workers: the destination's natural
// order is the source's.
func TestCopy_CappedCollectionInInsertionOrder(t *testing.T) {
	ctx := context.Background()
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	if err := src.Database("shop").CreateCollection(ctx, "log", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<22)); err != nil {
		t.Fatal(err)
	}
	var docs []bson.D
	for _, id := range rand.New(rand.NewPCG(3, 3)).Perm(600) {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(id)}, {Key: "pad", Value: "p"}})
	}
	insertDocs(t, src.Database("shop").Collection("log"), docs...)

	c := newCopier(t, src, dst)
	c.Workers, c.BatchDocs, c.SplitDocs, c.SplitAlways = 4, 10, 50, true
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want, got := testmongo.NaturalIDs(t, src.Database("shop").Collection("log")), testmongo.NaturalIDs(t, dst.Database("shop").Collection("log"))
	if len(want) != 600 || !slices.Equal(got, want) {
		t.Fatalf("the destination's capped collection in natural order (%d documents):\n%v\nwant the source's (%d):\n%v", len(got), got, len(want), want)
	}
	opts, err := dst.Database("shop").ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "log"}})
	if err != nil || len(opts) != 1 {
		t.Fatalf("destination's shop.log: %v %v", opts, err)
	}
	if capped, _ := opts[0].Options.Lookup("capped").BooleanOK(); !capped {
		t.Fatalf("destination's shop.log is not capped: %s", opts[0].Options)
	}
}
