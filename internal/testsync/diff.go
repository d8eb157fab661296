package testsync

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// IndependentDiff compares every selected collection of the source with the
// destination without mongo-sync's code (no verify package): documents by
// _id, in canonical form. It returns the differences, logging the first.
func IndependentDiff(t *testing.T, src, dst *mongo.Client, dbs map[string]string) int {
	t.Helper()
	return UnionDiff(t, []*mongo.Client{src}, dst, dbs)
}

// UnionDiff is IndependentDiff for a source spread over several servers
// (the shards of a sharded source): the destination must hold the union of
// their documents, and no _id may be on two of them.
func UnionDiff(t *testing.T, srcs []*mongo.Client, dst *mongo.Client, dbs map[string]string) int {
	t.Helper()
	return DiffUnion(t, srcs, dst, dbs, t.Logf)
}

// DiffUnion is UnionDiff logging through logf.
func DiffUnion(t *testing.T, srcs []*mongo.Client, dst *mongo.Client, dbs map[string]string, logf func(string, ...any)) int {
	t.Helper()
	// A test server that stops answering fails the comparison in minutes,
	// not the whole package at its 20-minute timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	read := func(c *mongo.Client, db, coll string) map[string]string {
		out := map[string]string{}
		cur, err := c.Database(db).Collection(coll).Find(ctx, bson.D{})
		if err != nil {
			t.Fatalf("read %s.%s: %v", db, coll, err)
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			id := bsonx.Canonical(bson.Raw(IDDoc("_id", cur.Current.Lookup("_id"))))
			out[id] = bsonx.Canonical(cur.Current)
		}
		if err := cur.Err(); err != nil {
			t.Fatalf("read %s.%s: %v", db, coll, err)
		}
		return out
	}
	n, checked := 0, 0
	for sdb, ddb := range dbs {
		seen := map[string]bool{}
		var names []string
		for _, src := range srcs {
			ns, err := src.Database(sdb).ListCollectionNames(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				if !seen[n] && !strings.HasPrefix(n, "system.") {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
		for _, coll := range names {
			a := map[string]string{}
			for i, src := range srcs {
				for id, doc := range read(src, sdb, coll) {
					if _, dup := a[id]; dup {
						t.Fatalf("%s.%s %s is on two source servers (the test's shards must hold disjoint _ids; server %d)", sdb, coll, id, i)
					}
					a[id] = doc
				}
			}
			b := read(dst, ddb, coll)
			checked += len(a)
			for id, x := range a {
				if y := b[id]; y != x {
					if n++; n <= 5 {
						logf("%s.%s %s\n  source:      %s\n  destination: %s", sdb, coll, id, x, y)
					}
				}
			}
			for id, y := range b {
				if _, ok := a[id]; !ok {
					if n++; n <= 5 {
						logf("%s.%s %s only on the destination: %s", ddb, coll, id, y)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("independent comparison: the source holds no documents to compare")
	}
	logf("independent comparison: %d source documents, %d differences", checked, n)
	return n
}

// IDDoc is the document {key: v}, for a canonical form of an _id.
func IDDoc(key string, v bson.RawValue) []byte {
	b, _ := bson.Marshal(bson.D{{Key: key, Value: v}})
	return b
}
