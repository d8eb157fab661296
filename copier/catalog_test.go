package copier

import (
	"context"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The copy records each source collection's UUID with the destination
// namespace that holds it: the applier routes the catch-up window's entries
// by that UUID, so writes logged before a rename follow the collection.
func TestCopy_RecordsCollectionUUIDs(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	insertDocs(t, src.Database("shop").Collection("customers"), bson.D{{Key: "_id", Value: 1}})
	specs, err := src.Database("shop").ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, s := range specs {
		if s.UUID == nil {
			t.Skipf("the source reports no collection UUID for %s: nothing to record", s.Name)
		}
		want[string(s.UUID.Data)] = "shop." + s.Name
	}
	c := newCopier(t, src, dst)
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.Store.Collections()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("catalog %v, want %v", got, want)
	}
	for u, ns := range want {
		if got[u] != ns {
			t.Errorf("UUID %x recorded at %q, want %q", u, got[u], ns)
		}
	}
}
