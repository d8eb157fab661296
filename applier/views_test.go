package applier

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The entries below are in the shapes mongod logs for views and
// time-series collections; none is a command entry for the view itself:
//   - a view's create inserts its definition into <db>.system.views, a
//     collMod on it replaces the definition whole (an update whose o has
//     _id), its drop deletes it: mongodb/mongo
//     src/mongo/db/views/durable_view_catalog.cpp (upsert, remove; 4.4-6.x)
//     and src/mongo/db/catalog/views_for_database.cpp (_upsertIntoCatalog,
//     remove; 7.0+), src/mongo/db/catalog/coll_mod.cpp ("Handle collMod on
//     a view and return early");
//   - the definition is {_id: "<db>.<view>", viewOn: <collection name>,
//     pipeline, collation (only when not simple, fully expanded)}
//     (views_for_database.cpp, _upsertIntoCatalog);
//   - a time-series create logs a create of system.buckets.<name> with
//     the user's options, the buckets' validator and clusteredIndex: true,
//     then the view <name> on system.buckets.<name> as a system.views insert
//     whose pipeline is $_internalUnpackBucket
//     (src/mongo/db/catalog/create_collection.cpp, _createTimeseries).

var viewsTS = bson.Timestamp{T: 1700200000, I: 1}

func viewEntry(t *testing.T, op, ns string, o, o2 bson.D) bson.Raw {
	d := bson.D{{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: uuid(9)}},
		{Key: "o", Value: o}}
	if o2 != nil {
		d = append(d, bson.E{Key: "o2", Value: o2})
	}
	d = append(d, bson.E{Key: "ts", Value: viewsTS}, bson.E{Key: "t", Value: int64(1)}, bson.E{Key: "v", Value: int64(2)},
		bson.E{Key: "wall", Value: bson.DateTime(1700200000000)})
	return bsontest.Raw(t, d)
}

// frCollation is a collation as mongod stores it: every field expanded.
var frCollation = bson.D{{Key: "locale", Value: "fr"}, {Key: "caseLevel", Value: false}, {Key: "caseFirst", Value: "off"},
	{Key: "strength", Value: int32(3)}, {Key: "numericOrdering", Value: false}, {Key: "alternate", Value: "non-ignorable"},
	{Key: "maxVariable", Value: "punct"}, {Key: "normalization", Value: false}, {Key: "backwards", Value: false},
	{Key: "version", Value: "57.1"}}

var activePipeline = bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "active", Value: true}}}}}

func viewDef(id, viewOn string, pipeline bson.A, collation bson.D) bson.D {
	d := bson.D{{Key: "_id", Value: id}, {Key: "viewOn", Value: viewOn}, {Key: "pipeline", Value: pipeline}}
	if collation != nil {
		d = append(d, bson.E{Key: "collation", Value: collation})
	}
	return d
}

// wireRecorder connects to s and records every command the client sends
// but the driver's own (hello, ping, endSessions).
func wireRecorder(t *testing.T, s *testmongo.Server) (*mongo.Client, func() []bson.Raw) {
	t.Helper()
	var mu sync.Mutex
	var cmds []bson.Raw
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		switch e.CommandName {
		case "hello", "isMaster", "ismaster", "ping", "endSessions", "buildInfo", "buildinfo":
			return
		}
		mu.Lock()
		cmds = append(cmds, append(bson.Raw(nil), e.Command...))
		mu.Unlock()
	}}
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetServerSelectionTimeout(20 * time.Second).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c, func() []bson.Raw {
		mu.Lock()
		defer mu.Unlock()
		out := append([]bson.Raw(nil), cmds...)
		cmds = nil
		return out
	}
}

// wire renders a sent command without the driver's fields ($db stays:
// it is where the command went), as canonical Extended JSON.
func wire(t *testing.T, cmd bson.Raw) string {
	t.Helper()
	var d bson.D
	if err := bson.Unmarshal(cmd, &d); err != nil {
		t.Fatal(err)
	}
	var out bson.D
	for _, e := range d {
		switch e.Key {
		case "lsid", "$clusterTime", "txnNumber", "$readPreference", "writeConcern":
			continue
		}
		out = append(out, e)
	}
	b, err := bson.MarshalExtJSON(out, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func viewsNamespaces(t *testing.T, dbs ...config.DB) *config.Namespaces {
	t.Helper()
	cfg := config.Default()
	cfg.Sync.DBs = dbs
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	return cfg.Namespaces()
}

// TestViews_WritesToSystemViewsBecomeViewCommands translates each entry and
// runs its ops on a recording client: what reaches the destination is a
// create / collMod / drop of the view, in the renamed database, and never
// a write to system.views (which 5.0+ refuses: InvalidNamespace). The test
// server has no views, so the test reads the commands sent, not their
// answers.
func TestViews_WritesToSystemViewsBecomeViewCommands(t *testing.T) {
	client, sent := wireRecorder(t, testmongo.StartDest(t))
	renamed := viewsNamespaces(t, config.DB{DB: "shop", RenameDB: "shop2"})
	onlyView := viewsNamespaces(t, config.DB{DB: "shop", Colls: []config.Coll{{Coll: "active"}}})
	onlyOrders := viewsNamespaces(t, config.DB{DB: "shop", Colls: []config.Coll{{Coll: "orders"}}})
	onlyWeather := viewsNamespaces(t, config.DB{DB: "shop", Colls: []config.Coll{{Coll: "weather"}}})

	bucketsCreate := bson.D{{Key: "create", Value: "system.buckets.weather"},
		{Key: "validator", Value: bson.D{{Key: "$jsonSchema", Value: bson.D{{Key: "bsonType", Value: "object"}}}}},
		{Key: "clusteredIndex", Value: true},
		{Key: "timeseries", Value: bson.D{{Key: "timeField", Value: "t"}, {Key: "metaField", Value: "m"},
			{Key: "granularity", Value: "seconds"}, {Key: "bucketMaxSpanSeconds", Value: int32(3600)}}},
		{Key: "expireAfterSeconds", Value: int64(86400)}}
	tsView := viewDef("shop.weather", "system.buckets.weather", bson.A{bson.D{{Key: "$_internalUnpackBucket", Value: bson.D{
		{Key: "timeField", Value: "t"}, {Key: "metaField", Value: "m"}, {Key: "bucketMaxSpanSeconds", Value: int32(3600)},
		{Key: "exclude", Value: bson.A{}}}}}}, nil)
	tsOptions := `"timeseries":{"timeField":"t","metaField":"m","granularity":"seconds","bucketMaxSpanSeconds":3600},"expireAfterSeconds":86400`

	cases := []struct {
		name  string
		ns    *config.Namespaces
		entry bson.Raw
		want  []string // commands sent, in order
	}{
		{"create (insert of the definition), collation kept", nil,
			viewEntry(t, "i", "shop.system.views", viewDef("shop.active", "orders", activePipeline, frCollation), nil),
			[]string{`{"create":"active","viewOn":"orders","pipeline":[{"$match":{"active":true}}],"collation":{"locale":"fr","caseLevel":false,"caseFirst":"off","strength":3,"numericOrdering":false,"alternate":"non-ignorable","maxVariable":"punct","normalization":false,"backwards":false,"version":"57.1"},"$db":"shop"}`}},
		{"create in a renamed database keeps viewOn", renamed,
			viewEntry(t, "i", "shop.system.views", viewDef("shop.active", "orders", activePipeline, nil), nil),
			[]string{`{"create":"active","viewOn":"orders","pipeline":[{"$match":{"active":true}}],"$db":"shop2"}`}},
		{"collMod (replacement of the definition)", renamed,
			viewEntry(t, "u", "shop.system.views", viewDef("shop.active", "archive", bson.A{}, nil), bson.D{{Key: "_id", Value: "shop.active"}}),
			[]string{`{"collMod":"active","viewOn":"archive","pipeline":[],"$db":"shop2"}`}},
		{"drop (delete of the definition)", renamed,
			viewEntry(t, "d", "shop.system.views", bson.D{{Key: "_id", Value: "shop.active"}}, nil),
			[]string{`{"drop":"active","$db":"shop2"}`}},
		{"a view selected by its own name", onlyView,
			viewEntry(t, "i", "shop.system.views", viewDef("shop.active", "orders", activePipeline, nil), nil),
			[]string{`{"create":"active","viewOn":"orders","pipeline":[{"$match":{"active":true}}],"$db":"shop"}`}},
		{"a view not selected, its viewOn selected", onlyOrders,
			viewEntry(t, "i", "shop.system.views", viewDef("shop.active", "orders", activePipeline, nil), nil), nil},
		{"a view's drop not selected", onlyOrders,
			viewEntry(t, "d", "shop.system.views", bson.D{{Key: "_id", Value: "shop.active"}}, nil), nil},
		{"system.views' own create", nil,
			viewEntry(t, "c", "shop.$cmd", bson.D{{Key: "create", Value: "system.views"},
				{Key: "idIndex", Value: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}}, nil), nil},
		{"time-series: the buckets' create creates the collection by its name", renamed,
			viewEntry(t, "c", "shop.$cmd", bucketsCreate, nil),
			[]string{`{"create":"weather",` + tsOptions + `,"$db":"shop2"}`}},
		{"time-series selected by its name", onlyWeather,
			viewEntry(t, "c", "shop.$cmd", bucketsCreate, nil),
			[]string{`{"create":"weather",` + tsOptions + `,"$db":"shop"}`}},
		{"time-series logged by its own name: the buckets' options left out", renamed,
			viewEntry(t, "c", "shop.$cmd", append(bson.D{{Key: "create", Value: "weather"}}, bucketsCreate[1:]...), nil),
			[]string{`{"create":"weather",` + tsOptions + `,"$db":"shop2"}`}},
		{"time-series: its view's insert is passed over", renamed,
			viewEntry(t, "i", "shop.system.views", tsView, nil), nil},
		{"time-series: its drop drops it by name", renamed,
			viewEntry(t, "d", "shop.system.views", bson.D{{Key: "_id", Value: "shop.weather"}}, nil),
			[]string{`{"drop":"weather","$db":"shop2"}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ops, err := translate.NewTranslator(c.ns).AppendOps(nil, 1, viewsTS, c.entry)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range ops {
				if op.Cmd == nil {
					t.Fatalf("op %+v is a document write, want a command", op)
				}
				op.Cmd(context.Background(), client) // the test server answers NotImplemented to views
			}
			got := sent()
			var gs []string
			for _, g := range got {
				gs = append(gs, wire(t, g))
			}
			if strings.Join(gs, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("sent\n %s\nwant\n %s", strings.Join(gs, "\n "), strings.Join(c.want, "\n "))
			}
		})
	}
}

// TestViews_BucketWritesFollowTheSelectedName: a filter that names a
// time-series collection selects its buckets' writes too.
func TestViews_BucketWritesFollowTheSelectedName(t *testing.T) {
	tr := translate.NewTranslator(viewsNamespaces(t, config.DB{DB: "shop", RenameDB: "shop2", Colls: []config.Coll{{Coll: "weather"}}}))
	bucket := viewEntry(t, "i", "shop.system.buckets.weather", bson.D{{Key: "_id", Value: bson.ObjectID{1}},
		{Key: "control", Value: bson.D{{Key: "version", Value: int32(1)}}}}, nil)
	ops, err := tr.AppendOps(nil, 1, viewsTS, bucket)
	if err != nil || len(ops) != 1 || ops[0].NS != "shop2.system.buckets.weather" || ops[0].Kind != exec.KindInsert {
		t.Fatalf("bucket insert: %+v, %v; want one insert into shop2.system.buckets.weather", ops, err)
	}
	other := viewEntry(t, "i", "shop.system.buckets.other", bson.D{{Key: "_id", Value: bson.ObjectID{1}}}, nil)
	if ops, err := tr.AppendOps(nil, 2, viewsTS, other); err != nil || len(ops) != 0 {
		t.Fatalf("the buckets of an unselected time-series collection: %+v, %v", ops, err)
	}
}

// TestViews_BadDefinitions: what mongod never logs is an error that says
// what is wrong, not a write to system.views.
func TestViews_BadDefinitions(t *testing.T) {
	cases := []struct {
		name  string
		entry bson.Raw
		want  string
	}{
		{"a delta update", viewEntry(t, "u", "shop.system.views", bson.D{{Key: "$v", Value: int32(2)},
			{Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "viewOn", Value: "x"}}}}}}, bson.D{{Key: "_id", Value: "shop.v"}}),
			"not a whole definition"},
		{"no viewOn", viewEntry(t, "i", "shop.system.views", bson.D{{Key: "_id", Value: "shop.v"}, {Key: "pipeline", Value: bson.A{}}}, nil), "without viewOn"},
		{"no pipeline", viewEntry(t, "i", "shop.system.views", bson.D{{Key: "_id", Value: "shop.v"}, {Key: "viewOn", Value: "c"}}, nil), "without a pipeline"},
		{"another database", viewEntry(t, "i", "shop.system.views", viewDef("other.v", "c", bson.A{}, nil), nil), "names another database"},
		{"no string _id", viewEntry(t, "d", "shop.system.views", bson.D{{Key: "_id", Value: 1}}, nil), "without a string _id"},
	}
	for _, c := range cases {
		ops, err := translate.NewTranslator(nil).AppendOps(nil, 1, viewsTS, c.entry)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(ops) != 0 {
			t.Errorf("%s: %d ops, %v; want an error with %q", c.name, len(ops), err, c.want)
		}
	}
}

// TestViews_DropOverACollectionIsSkipped: in the replay window a view
// dropped and its name reused by a collection (a rename over it, as a
// materialized view swapped in does) is a collection the copy recorded by
// UUID: replaying "drop the view" or "collMod the view" would drop that
// collection or stop on it. Both are skipped; a view the catalog does not
// hold as a collection is dropped as before.
func TestViews_DropOverACollectionIsSkipped(t *testing.T) {
	tr := translate.NewTranslator(viewsNamespaces(t, config.DB{DB: "shop"}))
	tr.Catalog = &memCatalog{m: map[string]string{string(uuid(0xd1)): "shop.active"}}
	drop := viewEntry(t, "d", "shop.system.views", bson.D{{Key: "_id", Value: "shop.active"}}, nil)
	if ops, err := tr.AppendOps(nil, 1, viewsTS, drop); err != nil || len(ops) != 0 {
		t.Fatalf("a view drop over a collection of that name: %+v, %v; want nothing sent", ops, err)
	}
	mod := viewEntry(t, "u", "shop.system.views", viewDef("shop.active", "archive", bson.A{}, nil), bson.D{{Key: "_id", Value: "shop.active"}})
	if ops, err := tr.AppendOps(nil, 2, viewsTS, mod); err != nil || len(ops) != 0 {
		t.Fatalf("a view collMod over a collection of that name: %+v, %v; want nothing sent", ops, err)
	}
	other := viewEntry(t, "d", "shop.system.views", bson.D{{Key: "_id", Value: "shop.recent"}}, nil)
	if ops, err := tr.AppendOps(nil, 3, viewsTS, other); err != nil || len(ops) != 1 || ops[0].Cmd == nil {
		t.Fatalf("a view drop: %+v, %v; want one drop command", ops, err)
	}
}
