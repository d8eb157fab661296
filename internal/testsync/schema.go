package testsync

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// SchemaDiff compares, without mongo-sync's code, what DiffUnion does not:
// the selected databases' collections on both sides (a collection on one
// side only, either way), each collection's type and options, and its
// indexes (name, key in order, and every other option; the server's own
// bookkeeping v, ns and background left out). srcs are the source's
// servers (its shards), whose collections are taken together. It returns
// the differences, logging the first through logf.
func SchemaDiff(t *testing.T, srcs []*mongo.Client, dst *mongo.Client, dbs map[string]string, logf func(string, ...any)) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := 0
	report := func(format string, args ...any) {
		if n++; n <= 5 {
			logf(format, args...)
		}
	}
	for sdb, ddb := range dbs {
		a := map[string]string{}
		for _, src := range srcs {
			for name, spec := range collections(t, ctx, src, sdb) {
				a[name] = spec
			}
		}
		b := collections(t, ctx, dst, ddb)
		for _, name := range sortedNames(a) {
			y, ok := b[name]
			switch {
			case !ok:
				report("%s.%s: on the source, not on the destination (%s)", sdb, name, a[name])
			case y != a[name]:
				report("%s.%s: type and options differ\n  source:      %s\n  destination: %s", sdb, name, a[name], y)
			default:
				x, y := indexes(t, ctx, srcs[0], sdb, name), indexes(t, ctx, dst, ddb, name)
				if x != y {
					report("%s.%s: indexes differ\n  source:      %s\n  destination: %s", sdb, name, x, y)
				}
			}
		}
		for _, name := range sortedNames(b) {
			if _, ok := a[name]; !ok {
				report("%s.%s: on the destination only (%s)", ddb, name, b[name])
			}
		}
	}
	logf("independent schema comparison: %d differences", n)
	return n
}

// collections are db's collections and views (not system.*), each as its
// type and options.
func collections(t *testing.T, ctx context.Context, c *mongo.Client, db string) map[string]string {
	t.Helper()
	specs, err := c.Database(db).ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		t.Fatalf("list collections of %s: %v", db, err)
	}
	out := map[string]string{}
	for _, s := range specs {
		if strings.HasPrefix(s.Name, "system.") {
			continue
		}
		opts := "{}"
		if len(s.Options) > 0 {
			opts = bsonx.Canonical(s.Options)
		}
		out[s.Name] = s.Type + " " + opts
	}
	return out
}

// indexes renders a collection's indexes in name order: the key in its
// own order (numbers as numbers: 1 and 1.0 are one direction), the other
// options with sorted keys.
func indexes(t *testing.T, ctx context.Context, c *mongo.Client, db, coll string) string {
	t.Helper()
	cur, err := c.Database(db).Collection(coll).Indexes().List(ctx)
	if err != nil {
		t.Fatalf("list indexes of %s.%s: %v", db, coll, err)
	}
	defer cur.Close(ctx)
	var out []string
	for cur.Next(ctx) {
		var spec bson.D
		if err := bson.Unmarshal(cur.Current, &spec); err != nil {
			t.Fatal(err)
		}
		var key, rest bson.D
		name := ""
		for _, e := range spec {
			switch e.Key {
			case "v", "ns", "background":
			case "name":
				name = fmt.Sprint(e.Value)
			case "key":
				if d, ok := e.Value.(bson.D); ok {
					for _, k := range d {
						key = append(key, bson.E{Key: k.Key, Value: direction(k.Value)})
					}
				}
			default:
				rest = append(rest, e)
			}
		}
		out = append(out, name+" "+bsonx.CanonicalD(key, false)+" "+bsonx.CanonicalD(rest, true))
	}
	if err := cur.Err(); err != nil {
		t.Fatalf("list indexes of %s.%s: %v", db, coll, err)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// direction is an index key's value with its numeric type left out.
func direction(v any) any {
	switch x := v.(type) {
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
