package verify

import (
	"context"
	"reflect"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// reported is what a test asserts of a Result: all of it but Unsettled and
// Sampled (not a live or sample comparison).
type reported struct {
	SrcDocs, DstDocs          int64
	MissingN, ExtraN, DifferN int64
	Missing, Extra, Differ    []string
	IndexProblems             []string
	OptionProblems            []string
	CountProblem              string
}

func reportOf(r Result) reported {
	return reported{r.SrcDocs, r.DstDocs, r.MissingN, r.ExtraN, r.DifferN, r.Missing, r.Extra, r.Differ,
		r.IndexProblems, r.OptionProblems, r.CountProblem}
}

// TestVerify_ReportsEachDifference puts one difference in each collection
// (a document only on the destination, a document that differs, an index
// missing, an index with other options, an index only on the destination,
// a capped collection copied as an ordinary one) and asserts the whole
// report of each, so that a check that stops counting or listing any of
// them fails here. It runs on a replica-set-shaped source and on two
// shards read directly (documents split between them, indexes and options
// on both, as on a sharded cluster).
func TestVerify_ReportsEachDifference(t *testing.T) {
	for _, shards := range []int{1, 2} {
		name := map[int]string{1: "replica set", 2: "two shards"}[shards]
		t.Run(name, func(t *testing.T) { reportsEachDifference(t, shards) })
	}
}

func reportsEachDifference(t *testing.T, shards int) {
	ctx := context.Background()
	var srcs []*mongo.Client
	for range shards {
		srcs = append(srcs, testmongo.StartSource(t).Client())
	}
	dst := testmongo.StartDest(t).Client()
	// each runs f on every source shard's database and on the destination's.
	each := func(what string, onSrc, onDst func(db *mongo.Database) error) {
		t.Helper()
		for i, c := range srcs {
			if err := onSrc(c.Database("rep")); err != nil {
				t.Fatalf("%s on source %d: %v", what, i, err)
			}
		}
		if err := onDst(dst.Database("rep")); err != nil {
			t.Fatalf("%s on the destination: %v", what, err)
		}
	}
	// insert writes docs, split between the shards.
	insert := func(db *mongo.Database, coll string, docs []bson.D, shard int) error {
		var mine []any
		for i, d := range docs {
			if shard < 0 || i%shards == shard {
				mine = append(mine, d)
			}
		}
		if len(mine) == 0 {
			return nil
		}
		_, err := db.Collection(coll).InsertMany(ctx, mine)
		return err
	}
	docs := func(kv ...any) []bson.D {
		var out []bson.D
		for i := 0; i < len(kv); i += 2 {
			out = append(out, bson.D{{Key: "_id", Value: kv[i]}, {Key: "x", Value: kv[i+1]}})
		}
		return out
	}
	index := func(coll, key string, unique bool) func(db *mongo.Database) error {
		return func(db *mongo.Database) error {
			o := options.Index()
			if unique {
				o.SetUnique(true)
			}
			_, err := db.Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: key, Value: 1}}, Options: o})
			return err
		}
	}
	none := func(*mongo.Database) error { return nil }
	srcInsert := func(coll string, d []bson.D) func(db *mongo.Database) error {
		return func(db *mongo.Database) error {
			for i, c := range srcs {
				if c.Database("rep").Client() == db.Client() {
					return insert(db, coll, d, i)
				}
			}
			return nil
		}
	}
	dstInsert := func(coll string, d []bson.D) func(db *mongo.Database) error {
		return func(db *mongo.Database) error { return insert(db, coll, d, -1) }
	}
	same := docs("a", int32(1), "b", int32(2), "c", int32(3))

	each("same", srcInsert("same", same), dstInsert("same", same))
	each("extra", srcInsert("extra", same), dstInsert("extra", append(docs("d", int32(4)), same...)))
	each("differ", srcInsert("differ", same), dstInsert("differ", docs("a", int32(1), "b", int64(2), "c", int32(3))))
	each("noindex", srcInsert("noindex", same), dstInsert("noindex", same))
	each("noindex index", index("noindex", "x", false), none)
	each("unique", srcInsert("unique", same), dstInsert("unique", same))
	each("unique index", index("unique", "x", true), index("unique", "x", false))
	each("extraindex", srcInsert("extraindex", same), dstInsert("extraindex", same))
	each("extraindex index", none, index("extraindex", "x", false))
	each("capped", func(db *mongo.Database) error {
		return db.CreateCollection(ctx, "capped", options.CreateCollection().SetCapped(true).SetSizeInBytes(100000))
	}, func(db *mongo.Database) error { return db.CreateCollection(ctx, "capped") })
	each("capped docs", srcInsert("capped", same), dstInsert("capped", same))

	v := &Verifier{Src: srcs[0], Dst: dst, NS: allNamespaces(), Show: 10}
	if shards > 1 {
		v.Src, v.Shards = nil, srcs
	}
	res, err := v.Run(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	three := reported{SrcDocs: 3, DstDocs: 3}
	want := map[string]reported{
		"rep.same":   three,
		"rep.extra":  {SrcDocs: 3, DstDocs: 4, ExtraN: 1, Extra: []string{`"d"`}},
		"rep.differ": {SrcDocs: 3, DstDocs: 3, DifferN: 1, Differ: []string{`"b"`}},
		"rep.noindex": {SrcDocs: 3, DstDocs: 3,
			IndexProblems: []string{`missing index x_1 {"key":{"x":1}}`}},
		"rep.unique": {SrcDocs: 3, DstDocs: 3,
			IndexProblems: []string{`index x_1 differs: source {"key":{"x":1},"unique":true}, destination {"key":{"x":1}}`}},
		"rep.extraindex": {SrcDocs: 3, DstDocs: 3,
			IndexProblems: []string{`extra index x_1 {"key":{"x":1}}`}},
		"rep.capped": {SrcDocs: 3, DstDocs: 3,
			OptionProblems: []string{`option capped missing (source: true)`, `option size missing (source: {"$numberLong":"100000"})`}},
	}
	got := map[string]reported{}
	for _, r := range res {
		if r.Src != r.Dst {
			t.Errorf("%s compared with %s", r.Src, r.Dst)
		}
		got[r.Src] = reportOf(r)
		if r.OK() != reflect.DeepEqual(reportOf(r), three) {
			t.Errorf("%s: OK() = %v for %+v", r.Src, r.OK(), reportOf(r))
		}
	}
	for ns, w := range want {
		if g, ok := got[ns]; !ok {
			t.Errorf("%s: not compared", ns)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", ns, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("compared %d namespaces, want %d: %v", len(got), len(want), res)
	}
}
