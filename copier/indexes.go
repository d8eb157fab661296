package copier

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/mongo-sync/mongo-sync/internal/ddl"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrIndexConflict means the destination holds an index with the name or
// the key of a source index and other options: copying on would leave the
// destination with another index than the source's (another key, not
// unique, another filter), so the copy stops, naming both.
var ErrIndexConflict = errors.New("the destination holds another index under the source index's name or key")

// createIndexes answers of mongod (src/mongo/db/catalog/index_catalog_impl.cpp,
// _doesSpecConflictWithExisting; codes in src/mongo/base/error_codes.yml):
// an identical index is no error at all ("all indexes already exist");
// IndexKeySpecsConflict (86): an index of that name exists with another key
// or another identifying option (unique, sparse, partialFilterExpression,
// collation: which ones depends on the version); IndexOptionsConflict (85):
// one of that name and key exists with other options, or one of that key
// and options under another name. Either fails the whole command, which
// may then have built none of its indexes.
const (
	codeNamespaceNotFound     = 26
	codeIndexOptionsConflict  = 85
	codeIndexKeySpecsConflict = 86
)

func hasCode(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}

// indexConflictErr reports createIndexes' answer that an index of the
// same name or key exists with other options (85 or 86).
func indexConflictErr(err error) bool {
	return hasCode(err, codeIndexOptionsConflict) || hasCode(err, codeIndexKeySpecsConflict)
}

// createIndexes builds the source's secondary indexes on the destination:
// all in one command, and, when that fails on a duplicate key or a
// conflicting index, each alone, so that every index that can be built is,
// a unique one over duplicates is deferred (deferUniqueIndexes), and a
// conflict is reported with both specs (indexConflict).
func (c *Copier) createIndexes(ctx context.Context, coll *collection) error {
	if coll.view {
		return nil
	}
	src, gone, err := c.source(ctx, coll)
	if err == nil && !gone {
		var specs []bson.D
		specs, err = sourceIndexes(ctx, src)
		if hasCode(err, codeNamespaceNotFound) {
			gone = true
		} else if err == nil {
			return c.buildIndexes(ctx, coll, specs)
		}
	}
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", coll.srcNS, err)
	}
	c.Log.WithField("ns", coll.srcNS).Info("source collection dropped during its copy: no indexes to build (the oplog replays the drop)")
	return nil
}

// sourceIndexes lists src's secondary indexes, without the fields a
// destination sets itself or mongod ignores (ddl.IndexSpecForCreate).
func sourceIndexes(ctx context.Context, src *mongo.Collection) ([]bson.D, error) {
	cur, err := src.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.Background())
	var specs []bson.D
	for cur.Next(ctx) {
		var spec bson.D
		if err := bson.Unmarshal(cur.Current, &spec); err != nil {
			return nil, err
		}
		if name, _ := cur.Current.Lookup("name").StringValueOK(); name == "_id_" {
			continue
		}
		specs = append(specs, ddl.IndexSpecForCreate(spec))
	}
	return specs, cur.Err()
}

func (c *Copier) runCreateIndexes(ctx context.Context, coll *collection, specs ...bson.D) error {
	arr := bson.A{}
	for _, s := range specs {
		arr = append(arr, coll.forCreate(s))
	}
	return c.Dst.Database(coll.dstDB).RunCommand(ctx, bson.D{{Key: "createIndexes", Value: coll.dstColl}, {Key: "indexes", Value: arr}}).Err()
}

// forCreate is a listed spec as createIndexes on coll's destination takes
// it: with the simple collation spelled out where the collection has a
// default one (ddl.SimpleCollation). The destination collection was
// created with the source's options, so the source's say which.
func (coll *collection) forCreate(spec bson.D) bson.D {
	return ddl.SimpleCollation(spec, ddl.HasDefaultCollation(coll.options))
}

// buildIndexes builds specs on coll's destination.
func (c *Copier) buildIndexes(ctx context.Context, coll *collection, specs []bson.D) error {
	if len(specs) == 0 {
		return nil
	}
	err := c.runCreateIndexes(ctx, coll, specs...)
	switch {
	case err == nil || hasCode(err, codeIndexExists):
		return nil
	case !isDupKey(err) && !indexConflictErr(err):
		return fmt.Errorf("create indexes on %s: %w", coll.dstNS, err)
	}
	// Every index that can be built is, before the conflicts are reported.
	var errs []error
	for _, spec := range specs {
		if err := c.buildIndex(ctx, coll, spec); err != nil {
			if !errors.Is(err, ErrIndexConflict) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// buildIndex builds one index alone.
func (c *Copier) buildIndex(ctx context.Context, coll *collection, spec bson.D) error {
	err := c.runCreateIndexes(ctx, coll, spec)
	switch {
	case err == nil || hasCode(err, codeIndexExists):
		return nil
	case isDupKey(err):
		return c.deferUniqueIndexes(ctx, coll, bson.A{spec}, err)
	case indexConflictErr(err):
		return c.indexConflict(ctx, coll, spec, err)
	}
	return fmt.Errorf("create index %s on %s: %w", specName(spec), coll.dstNS, err)
}

// indexConflict settles createIndexes' conflict (cause, 85 or 86) for one
// source index spec. It is no difference when the destination's index of
// that name is this copy's non-unique stand-in for a deferred unique
// build (a restart), or when an index of the same key and options exists
// under another name (a shard key index that shardCollection named). An
// index of that name whose options differ only where collMod changes them
// (a collMod on the source after the copy began) is brought to the
// source's with collMod (collModChanges). Any other is ErrIndexConflict
// naming the namespace, the index and both specs.
func (c *Copier) indexConflict(ctx context.Context, coll *collection, spec bson.D, cause error) error {
	name := specName(spec)
	deferred, err := c.Store.DeferredWork()
	if err != nil {
		return err
	}
	for _, d := range deferred {
		if d.Kind == "index" && d.NS == coll.dstNS && d.Index == name {
			c.Log.WithFields(logrus.Fields{"ns": coll.dstNS, "index": name}).Debug("unique index already deferred: its non-unique stand-in stays")
			return nil
		}
	}
	existing, err := c.Dst.Database(coll.dstDB).Collection(coll.dstColl).Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("create index %s on %s: %w (listing the destination's indexes: %v)", name, coll.dstNS, cause, err)
	}
	var all []bson.D
	if err := existing.All(ctx, &all); err != nil {
		return fmt.Errorf("create index %s on %s: %w (listing the destination's indexes: %v)", name, coll.dstNS, cause, err)
	}
	var byName, byKey bson.D
	for _, d := range all {
		switch {
		case specName(d) == name:
			byName = d
		case byKey == nil && sameValue(lookupD(d, "key"), lookupD(spec, "key")):
			byKey = d
		}
	}
	if byName != nil {
		if changes, ok := collModChanges(spec, byName); ok {
			return c.collModIndex(ctx, coll, spec, byName, changes, cause)
		}
	}
	other := byName
	if other == nil {
		other = byKey
		if other != nil && sameOptions(spec, other) {
			c.Log.WithFields(logrus.Fields{"ns": coll.dstNS, "index": name, "destination": specName(other)}).
				Warn("the destination holds the same index under another name: not built again")
			return nil
		}
	}
	if other == nil {
		return fmt.Errorf("create index %s on %s (source %s): %w", name, coll.dstNS, coll.srcNS, cause)
	}
	return fmt.Errorf("index %s of %s: the source's is %s, the destination %s holds %s: %w (%w)",
		name, coll.srcNS, relaxed(spec), coll.dstNS, relaxed(other), ErrIndexConflict, cause)
}

func specName(spec bson.D) string {
	s, _ := lookupD(spec, "name").(string)
	return s
}

func lookupD(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// sameOptions compares two index specs but for their names and the fields
// a server sets itself.
func sameOptions(a, b bson.D) bool {
	opts := func(d bson.D) map[string]any {
		m := map[string]any{}
		for _, e := range d {
			switch e.Key {
			case "name", "v", "ns", "background":
			default:
				m[e.Key] = e.Value
			}
		}
		return m
	}
	ma, mb := opts(a), opts(b)
	if len(ma) != len(mb) {
		return false
	}
	for k, v := range ma {
		w, ok := mb[k]
		if !ok || !sameValue(v, w) {
			return false
		}
	}
	return true
}

// sameValue compares spec values as a server reads them: numbers by value
// (1 and 1.0 are one direction), booleans and numbers by truth (unique: 1),
// documents field by field in order.
func sameValue(a, b any) bool {
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa == fb
		}
	}
	if ba, ok := a.(bool); ok {
		return ba == truthy(b)
	}
	if bb, ok := b.(bool); ok {
		return bb == truthy(a)
	}
	da, okA := a.(bson.D)
	db, okB := b.(bson.D)
	if okA || okB {
		if !okA || !okB || len(da) != len(db) {
			return false
		}
		for i := range da {
			if da[i].Key != db[i].Key || !sameValue(da[i].Value, db[i].Value) {
				return false
			}
		}
		return true
	}
	return relaxed(bson.D{{Key: "v", Value: a}}) == relaxed(bson.D{{Key: "v", Value: b}})
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	}
	return 0, false
}
