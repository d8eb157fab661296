package reader

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A filter that names collections still spools the writes to
// <db>.system.views of a selected database (a view's create, collMod and
// drop are logged as those writes; the applier selects the view by its own
// name) and the buckets of a selected time-series collection.
func TestFilter_ViewsAndTimeseriesBuckets(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app", Colls: []config.Coll{{Coll: "orders"}, {Coll: "weather"}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	f := Filter{NS: c.Namespaces()}
	entry := func(op, ns string, o bson.D) bson.Raw {
		raw, _ := bson.Marshal(bson.D{{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "o", Value: o}})
		return raw
	}
	def := bson.D{{Key: "_id", Value: "app.active"}, {Key: "viewOn", Value: "orders"}, {Key: "pipeline", Value: bson.A{}}}
	for _, tc := range []struct {
		name string
		raw  bson.Raw
		want Verdict
	}{
		{"a view's create", entry("i", "app.system.views", def), Spool},
		{"a view's drop", entry("d", "app.system.views", bson.D{{Key: "_id", Value: "app.active"}}), Spool},
		{"a view in another database", entry("i", "other.system.views", def), Skip},
		{"a selected time-series collection's buckets", entry("i", "app.system.buckets.weather", bson.D{{Key: "_id", Value: 1}}), Spool},
		{"another time-series collection's buckets", entry("i", "app.system.buckets.other", bson.D{{Key: "_id", Value: 1}}), Skip},
	} {
		if got := f.Judge(tc.raw); got != tc.want {
			t.Errorf("%s: verdict %v, want %v", tc.name, got, tc.want)
		}
	}
}
