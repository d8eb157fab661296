package reader

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A chunk migration's writes (fromMigrate CRUD) are skipped; a sharded
// collection's DDL logged with fromMigrate (a participant shard's drop,
// rename or first-chunk create, applier/translate/migrated.go) is spooled for the
// shard's catalog, selected like any command entry; convertToCapped's
// copies, also fromMigrate, are spooled as writes.
func TestFilter_FromMigrate(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	fm := func(op, ns string, o bson.D) bson.Raw {
		raw, _ := bson.Marshal(bson.D{{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "o", Value: o}, {Key: "fromMigrate", Value: true}})
		return raw
	}
	for _, f := range []Filter{{NS: c.Namespaces()}, {}} {
		for _, tc := range []struct {
			name string
			raw  bson.Raw
			want Verdict
		}{
			{"insert", fm("i", "app.c", bson.D{{Key: "_id", Value: 1}}), Skip},
			{"delete", fm("d", "app.c", bson.D{{Key: "_id", Value: 1}}), Skip},
			{"drop", fm("c", "app.$cmd", bson.D{{Key: "drop", Value: "c"}}), Spool},
			{"create", fm("c", "app.$cmd", bson.D{{Key: "create", Value: "c"}}), Spool},
			{"rename", fm("c", "app.$cmd", bson.D{{Key: "renameCollection", Value: "app.c"}, {Key: "to", Value: "app.d"}}), Spool},
			{"applyOps", fm("c", "admin.$cmd", bson.D{{Key: "applyOps", Value: bson.A{}}}), Skip},
			// convertToCapped's copies (config.CappedCopy): the collection's documents.
			{"convertToCapped copy", fm("i", "app.tmpAbC12.convertToCapped.c", bson.D{{Key: "_id", Value: 1}}), Spool},
			{"convertToCapped copy before 4.2", fm("i", "app.tmp.convertToCapped.c", bson.D{{Key: "_id", Value: 1}}), Spool},
			{"insert into a look-alike", fm("i", "app.tmpA.b.convertToCapped.c", bson.D{{Key: "_id", Value: 1}}), Skip},
		} {
			if got := f.Judge(tc.raw); got != tc.want {
				t.Errorf("%s (selection %v): verdict %v, want %v", tc.name, f.NS != nil, got, tc.want)
			}
		}
	}
	// A sync of app.d alone leaves out convertToCapped's copies of app.c:
	// they would put a collection the sync leaves out on the destination.
	only := config.Default()
	only.Src.URI, only.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app", Colls: []config.Coll{{Coll: "d"}}}}
	if err := only.Finish(); err != nil {
		t.Fatal(err)
	}
	for coll, want := range map[string]Verdict{"tmpAbC12.convertToCapped.c": Skip, "tmpAbC12.convertToCapped.d": Spool} {
		if got := (Filter{NS: only.Namespaces()}).Judge(fm("i", "app."+coll, bson.D{{Key: "_id", Value: 1}})); got != want {
			t.Errorf("convertToCapped's copy into app.%s, app.d selected: verdict %v, want %v", coll, got, want)
		}
	}
	other := fm("c", "other.$cmd", bson.D{{Key: "drop", Value: "c"}})
	if got := (Filter{NS: c.Namespaces()}).Judge(other); got != Skip {
		t.Errorf("a migration's drop in an unselected database: verdict %v, want Skip", got)
	}
}
