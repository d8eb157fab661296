package applier

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/sharding"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// shardedWorkload is a replica set source's oplog (o2 and a delete's o hold
// _id alone) with a few entries of a sharded source (the key logged too),
// over three collections sharded on a compound, a hashed and a dotted key.
// It holds inserts, replacements, modifier and $v:2 updates, deletes, an
// update of a missing document and shard key changes by a modifier and by
// a replacement.
func shardedWorkload(db string) (colls []sharding.Collection, entries []bson.D, want map[string]string) {
	orders, users, dotted := db+".orders", db+".users", db+".dotted"
	colls = []sharding.Collection{
		{NS: orders, Key: bson.D{{Key: "region", Value: 1}, {Key: "n", Value: 1}}},
		{NS: users, Key: bson.D{{Key: "h", Value: "hashed"}}},
		{NS: dotted, Key: bson.D{{Key: "a.b", Value: 1}}},
	}
	d := func(kv ...any) bson.D {
		out := bson.D{}
		for i := 0; i < len(kv); i += 2 {
			out = append(out, bson.E{Key: kv[i].(string), Value: kv[i+1]})
		}
		return out
	}
	upd := func(ns string, o2, o bson.D) bson.D {
		return bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: ns}, {Key: "o", Value: o}, {Key: "o2", Value: o2}}
	}
	op := func(kind, ns string, o bson.D) bson.D {
		return bson.D{{Key: "op", Value: kind}, {Key: "ns", Value: ns}, {Key: "o", Value: o}}
	}
	set := func(kv ...any) bson.D { return d("$v", 1, "$set", d(kv...)) }
	entries = []bson.D{
		op("i", orders, d("_id", 1, "region", "eu", "n", 1, "v", "a")),
		op("i", orders, d("_id", 2, "region", "us", "n", 2)),
		op("i", users, d("_id", "u1", "h", 5, "name", "x")),
		op("i", users, d("_id", "u2", "h", 6)),
		op("i", dotted, d("_id", 1, "a", d("b", 1), "c", 1)),
		upd(orders, d("_id", 1), d("$v", 2, "diff", d("u", d("v", "b")))),       // a modifier, key unknown
		upd(orders, d("_id", 2), d("_id", 2, "region", "us", "n", 2, "w", 1)),   // a replacement, same key
		upd(orders, d("_id", 1), set("region", "ap")),                           // key change by a modifier
		upd(orders, d("_id", 2), d("_id", 2, "region", "us", "n", 3, "w", 1)),   // key change by a replacement
		op("d", users, d("_id", "u1")),                                          // delete by _id
		upd(dotted, d("_id", 1), set("a.b", 2)),                                 // a dotted key changes
		upd(orders, d("_id", 9), set("x", 1)),                                   // a missing document: applies to {_id}
		upd(orders, d("_id", 2, "region", "us", "n", 3), set("z", 1)),           // a sharded source's o2
		op("d", orders, d("_id", 1, "region", "ap", "n", 1)),                    // a sharded source's delete
		upd(users, d("_id", "u2", "h", 6), d("_id", "u2", "h", 6, "name", "y")), // a sharded source's replacement
	}
	want = map[string]string{
		orders: `[{"_id":2,"region":"us","n":3,"w":1,"z":1},{"_id":9,"x":1}]`,
		users:  `[{"_id":"u2","h":6,"name":"y"}]`,
		dotted: `[{"_id":1,"a":{"b":2},"c":1}]`,
	}
	return colls, entries, want
}

// statementLog records the update and delete statements a client sends.
type statementLog struct {
	mu    sync.Mutex
	stmts []bson.Raw
}

func (l *statementLog) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		field := map[string]string{"update": "updates", "delete": "deletes"}[e.CommandName]
		if field == "" {
			return
		}
		arr, ok := e.Command.Lookup(field).ArrayOK()
		if !ok {
			return
		}
		vals, _ := arr.Values()
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, v := range vals {
			l.stmts = append(l.stmts, append(bson.Raw(nil), v.Document()...))
		}
	}}
}

// checkTargetable fails on any upsert whose query lacks a shard key field.
func (l *statementLog) checkTargetable(t *testing.T, colls []sharding.Collection) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	upserts := 0
	for _, s := range l.stmts {
		if up, _ := s.Lookup("upsert").BooleanOK(); !up {
			continue
		}
		upserts++
		q, _ := s.Lookup("q").DocumentOK()
		for _, c := range colls {
			if _, err := q.LookupErr(c.Fields()[0]); err == nil {
				goto next
			}
		}
		t.Errorf("an upsert without the shard key in its query: %s", s)
	next:
	}
	if upserts == 0 {
		t.Error("no upsert sent: the careful path never ran")
	}
}

// applyShardedWorkload translates and applies the workload twice (the
// second time a replay over its own result) and checks the destination.
func applyShardedWorkload(t *testing.T, client *mongo.Client, keys *sharding.ShardKeys, colls []sharding.Collection, entries []bson.D, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	tr := translate.NewTranslator(nil)
	var ops []exec.Op
	for i, e := range entries {
		raw := bsontest.MustMarshal(t, append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700300000, I: uint32(i + 1)}}}, e...))
		var err error
		if ops, err = tr.AppendOps(ops, uint64(i+1), bson.Timestamp{T: 1700300000, I: uint32(i + 1)}, raw); err != nil {
			t.Fatal(err)
		}
	}
	for pass, window := range []func(uint64, bson.Timestamp) bool{
		func(seq uint64, _ bson.Timestamp) bool { return seq <= 2 }, // a catch-up window over the first entries
		nil, // a replay of everything over the end state
	} {
		x := &exec.Executor{Client: client, Workers: 3, BulkSize: 10, Log: quietLog(), Keys: keys, Window: window}
		if err := x.Apply(ctx, ops); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		for ns, w := range want {
			if got := dump(t, client, ns); got != w {
				t.Errorf("pass %d: %s:\ngot  %s\nwant %s", pass, ns, got, w)
			}
		}
	}
}

// dump lists ns's documents by _id as relaxed Extended JSON.
func dump(t *testing.T, client *mongo.Client, ns string) string {
	t.Helper()
	db, coll := config.SplitNS(ns)
	cur, err := client.Database(db).Collection(coll).Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for cur.Next(context.Background()) {
		docs = append(docs, cur.Current.String())
	}
	sort.Strings(docs)
	var out []string
	for _, d := range docs {
		var v bson.D
		bson.UnmarshalExtJSON([]byte(d), false, &v)
		out = append(out, bsontest.Ext(v))
	}
	return "[" + strings.Join(out, ",") + "]"
}

// On the test server (not sharded: it runs the statements as a replica set
// would), with the key table supplied instead of config.collections: the
// destination ends as the source did, and every upsert names its key.
func TestShardedDest_TestServer(t *testing.T) {
	dst := testmongo.StartDest(t)
	var log statementLog
	client, err := mongo.Connect(options.Client().ApplyURI(dst.URI).SetMonitor(log.monitor()).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	colls, entries, want := shardedWorkload("shop")
	loads := 0
	keys := &sharding.ShardKeys{Load: func(context.Context) ([]sharding.Collection, error) { loads++; return colls, nil }}
	applyShardedWorkload(t, client, keys, colls, entries, want)
	log.checkTargetable(t, colls)
	for _, c := range []struct {
		field    string
		from, to any
	}{{"region", "eu", "ap"}, {"n", int32(2), int32(3)}, {"a.b", int32(1), int32(2)}} {
		if !log.changed(c.field, c.from, c.to) {
			t.Errorf("no key change of %s from %v to %v by the old key", c.field, c.from, c.to)
		}
	}
	if loads == 0 {
		t.Error("the shard keys were never read")
	}
}

// Against a real mongos (MONGO_SYNC_TEST_DST_MONGOS): the collections are
// sharded for real, keys come from config.collections, and the key
// changes move documents between chunks as retryable writes.
func TestShardedDest_RealMongos(t *testing.T) {
	uri := os.Getenv("MONGO_SYNC_TEST_DST_MONGOS")
	if uri == "" {
		t.Skip("MONGO_SYNC_TEST_DST_MONGOS is not set: no real mongos to test the sharded destination against (the test server is no mongos)")
	}
	ctx := context.Background()
	var log statementLog
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetMonitor(log.monitor()).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	if ok, err := sharding.IsMongos(ctx, client); err != nil || !ok {
		t.Fatalf("MONGO_SYNC_TEST_DST_MONGOS is no mongos (hello: %v)", err)
	}
	db := fmt.Sprintf("mongosync_test_%d", time.Now().UnixNano())
	defer client.Database(db).Drop(ctx)
	colls, entries, want := shardedWorkload(db)
	for _, c := range colls {
		for _, cmd := range []bson.D{{{Key: "enableSharding", Value: db}}, sharding.ShardCollection(c.NS, c.Key, c.Unique).Cmd} {
			if err := client.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
				t.Fatalf("%v: %v", cmd, err)
			}
		}
	}
	applyShardedWorkload(t, client, sharding.NewShardKeys(client), colls, entries, want)
	log.checkTargetable(t, colls)
}

// changed reports whether a statement moved a document from one value of
// field to another: a key change, by the old key, without upsert.
func (l *statementLog) changed(field string, from, to any) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.stmts {
		q, _ := s.Lookup("q").DocumentOK()
		u, _ := s.Lookup("u").DocumentOK()
		up, _ := s.Lookup("upsert").BooleanOK()
		val := func(v any) string { return bsontest.Ext(bson.D{{Key: "v", Value: v}}) }
		if !up && q != nil && u != nil && val(q.Lookup(field)) == val(from) && val(u.Lookup(strings.Split(field, ".")...)) == val(to) {
			return true
		}
	}
	return false
}
