package sharding

import (
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func ext(t *testing.T, d bson.D) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func namespaces(t *testing.T, dbs ...config.DB) *config.Namespaces {
	t.Helper()
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", dbs
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	return c.Namespaces()
}

func TestPlan_Commands(t *testing.T) {
	src := []Collection{
		{NS: "app.users", Key: bson.D{{Key: "_id", Value: "hashed"}}},
		{NS: "app.orders", Key: bson.D{{Key: "region", Value: int32(1)}, {Key: "n", Value: int32(-1)}}, Unique: true},
		{NS: "logs.events", Key: bson.D{{Key: "meta.host", Value: int32(1)}}},
		{NS: "other.x", Key: bson.D{{Key: "k", Value: int32(1)}}},
	}
	ns := namespaces(t, config.DB{DB: "app", RenameDB: "app2"}, config.DB{DB: "logs"})
	// listCollections' options (the manual's listCollections output:
	// {name, type, options, info, idIndex}); app.users was not listed.
	options := map[string]bson.Raw{
		"app.orders": raw(t, bson.D{
			{Key: "validator", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$type", Value: "int"}}}}},
			{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(2)}}},
			{Key: "recordIdsReplicated", Value: true}}),
		"logs.events": raw(t, bson.D{}),
	}
	cmds, err := Plan(src, nil, ns, options)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, c.DB+" "+ext(t, c.Cmd))
	}
	want := []string{
		` {"enableSharding":"app2"}`,
		// Created first with the source's options (the source's storage option left out),
		// sharded with the simple collation a collection with a default collation needs.
		`app2 {"create":"orders","validator":{"n":{"$type":"int"}},"collation":{"locale":"fr","strength":2}}`,
		` {"shardCollection":"app2.orders","key":{"region":1,"n":-1},"unique":true,"collation":{"locale":"simple"}}`, // compound, unique, renamed
		` {"shardCollection":"app2.users","key":{"_id":"hashed"}}`,                                                   // hashed; no options known: no create
		` {"enableSharding":"logs"}`,
		`logs {"create":"events"}`,
		` {"shardCollection":"logs.events","key":{"meta.host":1}}`, // ranged, dotted; other.x is not synced
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func raw(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A sharded time-series collection is listed in config.collections as its
// buckets ({_id: "db.system.buckets.X", key on meta / control.min.<time>,
// timeseriesFields}: mongodb/mongo jstests/sharding/timeseries_*.js read
// it so): refused by name, never sharded as system.buckets.X.
func TestPlan_TimeSeriesRefused(t *testing.T) {
	src := []Collection{{NS: "logs.system.buckets.metrics", Key: bson.D{{Key: "meta", Value: int32(1)}}}}
	_, err := Plan(src, nil, namespaces(t, config.DB{DB: "logs"}), nil)
	if err == nil || !strings.Contains(err.Error(), "logs.metrics is a sharded time-series collection") {
		t.Fatalf("got %v", err)
	}
}

func TestPlan_DestinationAlreadySharded(t *testing.T) {
	src := []Collection{{NS: "app.orders", Key: bson.D{{Key: "region", Value: int32(1)}}}}
	same := []Collection{{NS: "app.orders", Key: bson.D{{Key: "region", Value: 1.0}}}}
	cmds, err := Plan(src, same, nil, nil)
	if err != nil || len(cmds) != 0 {
		t.Fatalf("the same key again: %v %v", cmds, err)
	}
	other := []Collection{{NS: "app.orders", Key: bson.D{{Key: "region", Value: "hashed"}}}}
	if _, err := Plan(src, other, nil, nil); err == nil || !strings.Contains(err.Error(), "app.orders") || !strings.Contains(err.Error(), "hashed") {
		t.Fatalf("another key: %v", err)
	}
}

func TestConfigEntry_Collection(t *testing.T) {
	key := bson.D{{Key: "k", Value: int32(1)}}
	cases := []struct {
		e  configEntry
		ok bool
	}{
		{configEntry{ID: "a.b", Key: key, Unique: true}, true},
		{configEntry{ID: "a.b", Key: key, Dropped: true}, false}, // before 5.0 a dropped collection stays, marked
		{configEntry{ID: "config.system.sessions", Key: bson.D{{Key: "_id", Value: int32(1)}}}, false},
	}
	for _, tc := range cases {
		c, ok := tc.e.collection()
		if ok != tc.ok || ok && (c.NS != tc.e.ID || !c.Unique) {
			t.Errorf("%+v: %+v %v", tc.e, c, ok)
		}
	}
	if !(Collection{Key: bson.D{{Key: "_id", Value: "hashed"}}}).IDOnly() || (Collection{Key: bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}}).IDOnly() {
		t.Error("IDOnly")
	}
}
