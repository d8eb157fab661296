package verify

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// indexes compares index names, keys and the options that change behaviour.
// A sharded source's collection counts with the indexes of the first shard
// that has any (every shard that holds a collection holds its indexes).
func (v *Verifier) indexes(ctx context.Context, src source, dst *mongo.Collection, r *Result) error {
	var a map[string]string
	for _, part := range src {
		var err error
		if a, err = indexSpecs(ctx, part); err != nil {
			return fmt.Errorf("indexes of %s: %w", r.Src, err)
		}
		if len(a) > 0 {
			break
		}
	}
	b, err := indexSpecs(ctx, dst)
	if err != nil {
		return fmt.Errorf("indexes of %s: %w", r.Dst, err)
	}
	names := map[string]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		switch x, y := a[n], b[n]; {
		case y == "":
			r.IndexProblems = append(r.IndexProblems, "missing index "+n+" "+x)
		case x == "":
			r.IndexProblems = append(r.IndexProblems, "extra index "+n+" "+y)
		case x != y:
			r.IndexProblems = append(r.IndexProblems, fmt.Sprintf("index %s differs: source %s, destination %s", n, x, y))
		}
	}
	return nil
}

// indexSpecs maps index names to a canonical rendering of what matters.
func indexSpecs(ctx context.Context, c *mongo.Collection) (map[string]string, error) {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for cur.Next(ctx) {
		name, _ := cur.Current.Lookup("name").StringValueOK()
		out[name] = indexSpec(cur.Current)
	}
	return out, cur.Err()
}

// indexSpec renders what matters of a listed index spec, as the server
// reads it: 4.4 lists its catalog's specs as they are, 5.0+ through
// ListIndexesReplyItem (mongodb/mongo src/mongo/db/list_indexes.idl), whose
// safeBool and safeInt fields list unique: 1 as true and expireAfterSeconds:
// 3600.0 as 3600. So the boolean options render as true or not at all
// (false is no option), and expireAfterSeconds as an integer where it is
// one.
//
// The options of text, 2d, 2dsphere and wildcard indexes count too
// (weights, languages, bits and bounds, versions, the wildcard
// projection), with numbers (and the projection's booleans) by value: a
// shell's 10 and a driver's 10.0 are one weight.
func indexSpec(listed bson.Raw) string {
	spec := bson.D{}
	for _, k := range []string{"key", "unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "collation", "hidden",
		"prepareUnique", "weights", "default_language", "language_override", "textIndexVersion",
		"2dsphereIndexVersion", "bits", "min", "max", "wildcardProjection"} {
		v, err := listed.LookupErr(k)
		if err != nil {
			continue
		}
		switch k {
		case "weights", "textIndexVersion", "2dsphereIndexVersion", "bits", "min", "max", "wildcardProjection":
			spec = append(spec, bson.E{Key: k, Value: byValue(v)})
		case "unique", "sparse", "hidden", "prepareUnique":
			if !truthy(v) {
				continue
			}
			spec = append(spec, bson.E{Key: k, Value: true})
		case "expireAfterSeconds":
			if n, ok := bsonx.Number(v); ok && n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				spec = append(spec, bson.E{Key: k, Value: int64(n)})
				continue
			}
			spec = append(spec, bson.E{Key: k, Value: v})
		default:
			spec = append(spec, bson.E{Key: k, Value: v})
		}
	}
	b, _ := bson.MarshalExtJSON(spec, false, false)
	return string(b)
}

// byValue renders numbers (and booleans, as 1 and 0) as doubles, through
// documents: index options whose numbers the server keeps in whatever type
// they were sent in.
func byValue(v bson.RawValue) any {
	if n, ok := bsonx.Number(v); ok {
		return n
	}
	if b, ok := v.BooleanOK(); ok {
		if b {
			return 1.0
		}
		return 0.0
	}
	if d, ok := v.DocumentOK(); ok {
		elems, err := d.Elements()
		if err != nil {
			return v
		}
		out := make(bson.D, len(elems))
		for i, e := range elems {
			out[i] = bson.E{Key: e.Key(), Value: byValue(e.Value())}
		}
		return out
	}
	return v
}

// truthy reads a boolean index option as mongod does: a bool, or a number
// other than 0.
func truthy(v bson.RawValue) bool {
	if b, ok := v.BooleanOK(); ok {
		return b
	}
	n, ok := bsonx.Number(v)
	return ok && n != 0
}

// options checks that every collection option of the source is the same
// on the destination (capped, size, max, validator, collation, view, ...).
func (v *Verifier) options(ctx context.Context, s copier.Selected, db, coll string, r *Result) error {
	specs, err := v.Dst.Database(db).ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil {
		return fmt.Errorf("collections of %s: %w", db, err)
	}
	if len(specs) == 0 {
		r.OptionProblems = append(r.OptionProblems, "collection missing on the destination")
		return nil
	}
	have := specs[0].Options
	elems, _ := s.Options.Elements()
	for _, e := range elems {
		got, err := have.LookupErr(e.Key())
		if err != nil {
			r.OptionProblems = append(r.OptionProblems, fmt.Sprintf("option %s missing (source: %s)", e.Key(), e.Value()))
			continue
		}
		if !sameValue(got, e.Value()) {
			r.OptionProblems = append(r.OptionProblems, fmt.Sprintf("option %s is %s, source has %s", e.Key(), got, e.Value()))
		}
	}
	return nil
}

// sameValue compares numbers by value, everything else as documents.
func sameValue(a, b bson.RawValue) bool {
	if x, ok := bsonx.Number(a); ok {
		y, ok := bsonx.Number(b)
		return ok && x == y
	}
	if a.Type != b.Type {
		return false
	}
	if da, ok := a.DocumentOK(); ok {
		db, _ := b.DocumentOK()
		return sameDoc(bson.Raw(da), bson.Raw(db))
	}
	return a.Equal(b)
}
