package exec

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/applier/update"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// uniqueIndex is a unique secondary index of a destination collection.
type uniqueIndex struct {
	name   string
	keys   []string // key paths, in order
	sparse bool
	// partial is its partialFilterExpression: only documents matching it
	// are in the index; collation its collation: keys equal under it
	// conflict ("ABC" and "abc" at strength 2). Nil when it has none.
	partial, collation bson.Raw
	// simple: it has no collation of its own on a collection with a
	// default one (an index built with {locale: "simple"} is listed
	// without one), so its keys compare under the simple collation.
	simple bool
}

// uniqueIndexes lists ns's unique secondary indexes. It is read at each
// conflict (they are rare), so it always sees the indexes DDL left.
func (x *Executor) uniqueIndexes(ctx context.Context, ns string) ([]uniqueIndex, error) {
	db, coll := splitNS(ns)
	cur, err := x.Client.Database(db, x.readOpts()).Collection(coll).Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var specs []struct {
		Name      string   `bson:"name"`
		Key       bson.D   `bson:"key"`
		Unique    bool     `bson:"unique"`
		Sparse    bool     `bson:"sparse"`
		Partial   bson.Raw `bson:"partialFilterExpression"`
		Collation bson.Raw `bson:"collation"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return nil, err
	}
	var out []uniqueIndex
	defaulted := -1 // whether the collection has a default collation: -1 not read yet
	for _, s := range specs {
		if !s.Unique || s.Name == "_id_" {
			continue
		}
		ix := uniqueIndex{name: s.Name, sparse: s.Sparse, partial: cloneRaw(s.Partial), collation: cloneRaw(s.Collation)}
		for _, k := range s.Key {
			ix.keys = append(ix.keys, k.Key)
		}
		if ix.collation == nil {
			if defaulted < 0 {
				if defaulted, err = x.defaultCollation(ctx, db, coll); err != nil {
					return nil, err
				}
			}
			ix.simple = defaulted == 1
		}
		out = append(out, ix)
	}
	return out, nil
}

// defaultCollation is 1 when db.coll has a default collation, else 0.
func (x *Executor) defaultCollation(ctx context.Context, db, coll string) (int, error) {
	specs, err := x.Client.Database(db, x.readOpts()).ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil {
		return 0, fmt.Errorf("read the collection's default collation: %w", err)
	}
	if len(specs) == 1 && specs[0].Options.Lookup("collation").Type == bson.TypeEmbeddedDocument {
		return 1, nil
	}
	return 0, nil
}

// resolveUnique writes op, applied alone in oplog order, whose write still
// conflicts with a unique secondary index: another document holds the key
// op's document gets. The source's own index forbade two holders at once,
// so in a replay (the catch-up after the copy, a restart, or the serial
// replay of a run the parallel attempt partly applied) the entry that gave
// the holder that key, and the one that changes or deletes op's document's
// key, both lie later. op's document is written with each conflicting key
// moved aside (a placeholder unique to its _id), and the move is recorded:
// once the conflict is gone, Settle puts the value back, unless a later
// entry already set the path. The holder is never touched: deleting it
// could lose its other fields. A move still pending once the applier has
// passed every replay window stops it, naming index and key (the
// destination differs from the source); so does a conflict with no holder.
func (x *Executor) resolveUnique(ctx context.Context, op *Op, cause error) error {
	fail := func(err error) error { return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err} }
	cur, err := x.current(ctx, op)
	if err != nil {
		return fail(err)
	}
	doc, _, err := afterOp(op, cur)
	if err != nil {
		return fail(err)
	}
	if doc == nil {
		return nil
	}
	idxs, err := x.uniqueIndexes(ctx, op.NS)
	if err != nil {
		return fail(fmt.Errorf("list indexes after a unique conflict: %w", err))
	}
	db, coll := splitNS(op.NS)
	var moves []store.Deferred
	var conflicts []string
	for _, ix := range idxs {
		filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: op.ID}}}}
		present := false
		for _, k := range ix.keys {
			v, ok := keyValue(doc, strings.Split(k, "."))
			present = present || ok
			if arr, multi := v.(bson.A); multi && len(arr) > 0 {
				filter = append(filter, bson.E{Key: k, Value: bson.D{{Key: "$in", Value: arr}}})
			} else {
				filter = append(filter, bson.E{Key: k, Value: v})
			}
		}
		if ix.sparse && !present {
			continue
		}
		held, err := x.holds(ctx, db, coll, ix, filter, op.ID)
		if err != nil {
			return fail(fmt.Errorf("look up the holder of index %s: %w", ix.name, err))
		}
		if !held {
			continue
		}
		conflict := fmt.Sprintf("index %s key %v", ix.name, filter[1:])
		conflicts = append(conflicts, conflict)
		path := strings.Split(ix.keys[0], ".")
		orig, _ := keyValue(doc, path)
		mark, embedded := placeholder(orig, op.ID)
		var ok bool
		if doc, ok = update.SetPath(doc, path, mark); !ok {
			return fail(fmt.Errorf("unique %s conflicts with another document, and its key cannot be moved aside: %w", conflict, cause))
		}
		t, v, err := bson.MarshalValue(orig)
		if err != nil {
			return fail(err)
		}
		moves = append(moves, store.Deferred{Kind: "moved", NS: op.NS, Index: ix.name, Path: ix.keys[0], Embedded: embedded,
			ID:    bson.RawValue{Type: op.ID.Type, Value: append([]byte(nil), op.ID.Value...)},
			Value: bson.RawValue{Type: t, Value: v}})
	}
	if len(conflicts) == 0 {
		// The statement as sent made a key the rules do not (a $set path
		// creating a parent a diff would skip): write what the rules
		// give, and stop only if that still conflicts.
		err := x.replace(ctx, op, doc)
		if isDupKey(err) {
			return fail(fmt.Errorf("unique index conflict, but no other document holds this document's keys (indexes %v): %w", names(idxs), err))
		}
		return err
	}
	for _, m := range moves {
		if err := x.addDeferred(m); err != nil {
			return fail(err)
		}
	}
	x.noop(op, ReasonUniqueMoved, logrus.Fields{"indexes": conflicts})
	if err := x.replace(ctx, op, doc); err != nil {
		if isDupKey(err) {
			return fail(fmt.Errorf("unique %v not resolved by moving the key aside: %w", conflicts, err))
		}
		return err
	}
	return nil
}

// cloneRaw copies r (nil stays nil).
func cloneRaw(r bson.Raw) bson.Raw {
	if r == nil {
		return nil
	}
	return append(bson.Raw(nil), r...)
}

// holds reports whether a document other than op's (id) holds the key
// filter names (filter[0] excludes id, filter[1:] is the key) in index ix
// of db.coll: in the index (its partial filter), equal under the index's
// collation.
func (x *Executor) holds(ctx context.Context, db, coll string, ix uniqueIndex, filter bson.D, id bson.RawValue) (bool, error) {
	c := x.Client.Database(db, x.readOpts()).Collection(coll)
	query, opts := holderFind(ix, filter, ix.compareUnder())
	cur, err := c.Find(ctx, query, opts)
	if err != nil {
		return false, err
	}
	var got []struct {
		ID bson.RawValue `bson:"_id"`
	}
	if err := cur.All(ctx, &got); err != nil {
		return false, err
	}
	for _, d := range got {
		if !sameID(d.ID, id) {
			return true, nil
		}
	}
	return false, nil
}

// compareUnder is the collation index ix compares keys under: its own,
// or the simple one (simple); nil when both it and its collection's are
// simple (the find then needs none).
func (ix uniqueIndex) compareUnder() *options.Collation {
	switch {
	case ix.collation != nil:
		return collationOf(ix.collation)
	case ix.simple:
		return &options.Collation{Locale: "simple"}
	}
	return nil
}

// collationOf is a collation document, as listIndexes gives it
// (mongodb/mongo src/mongo/db/basic_types.idl, struct Collation: locale,
// caseLevel, caseFirst, strength, numericOrdering, alternate,
// maxVariable, normalization, backwards, and the ICU version the server
// built it with, which is not sent back), as the driver's option.
func collationOf(raw bson.Raw) *options.Collation {
	c := &options.Collation{}
	c.Locale, _ = raw.Lookup("locale").StringValueOK()
	c.CaseLevel, _ = raw.Lookup("caseLevel").BooleanOK()
	c.CaseFirst, _ = raw.Lookup("caseFirst").StringValueOK()
	if n, ok := raw.Lookup("strength").AsInt64OK(); ok {
		c.Strength = int(n)
	}
	c.NumericOrdering, _ = raw.Lookup("numericOrdering").BooleanOK()
	c.Alternate, _ = raw.Lookup("alternate").StringValueOK()
	c.MaxVariable, _ = raw.Lookup("maxVariable").StringValueOK()
	c.Normalization, _ = raw.Lookup("normalization").BooleanOK()
	c.Backwards, _ = raw.Lookup("backwards").BooleanOK()
	return c
}

// holderFind is the query and options that look up the holders of
// filter's key in index ix (mongodb/mongo
// src/mongo/db/catalog/index_key_validate.cpp: a unique index may carry
// partialFilterExpression and collation): only documents its partial
// filter admits are in the index, and keys compare under its collation.
// Under a collation every string in the query compares by it, a string
// _id too ("alice" and "Alice" at strength 2): the document's own _id is
// then told apart by the caller (sameID), not excluded by the query.
func holderFind(ix uniqueIndex, filter bson.D, collation *options.Collation) (any, *options.FindOptionsBuilder) {
	key := filter
	if collation != nil {
		key = filter[1:]
	}
	query := any(key)
	if ix.partial != nil {
		query = bson.D{{Key: "$and", Value: bson.A{key, ix.partial}}}
	}
	opts := options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(2)
	if collation != nil {
		opts.SetCollation(collation)
	}
	return query, opts
}

// sameID reports whether two _id values name one document: equal bytes of
// one type, or equal numbers (1, 1L and 1.0 are one _id to the server).
func sameID(a, b bson.RawValue) bool {
	if a.Type == b.Type {
		return bytes.Equal(a.Value, b.Value)
	}
	fa, aok := a.AsFloat64OK()
	fb, bok := b.AsFloat64OK()
	if !aok || !bok || a.Type == bson.TypeDecimal128 || b.Type == bson.TypeDecimal128 {
		return false
	}
	if ia, ok := a.AsInt64OK(); ok {
		if ib, ok := b.AsInt64OK(); ok && a.Type != bson.TypeDouble && b.Type != bson.TypeDouble {
			return ia == ib
		}
	}
	return fa == fb
}

// placeholder is what a moved-aside key holds: a document original stays
// whole with the marker field added (so later entries that change inside
// it still apply; restoring removes the marker), any other value becomes
// the marker alone. The marker holds the document's _id: unique.
func placeholder(orig any, id bson.RawValue) (any, bool) {
	if d, ok := orig.(bson.D); ok {
		return append(append(bson.D{}, d...), bson.E{Key: movedAsideField, Value: id}), true
	}
	return bson.D{{Key: movedAsideField, Value: id}}, false
}

// keyValue is the value an index key path takes in doc: through arrays of
// documents it collects every element's value (a multikey index), as an
// array.
func keyValue(doc bson.D, path []string) (any, bool) {
	var cur any = doc
	for i, k := range path {
		switch c := cur.(type) {
		case bson.D:
			j := update.Index(c, k)
			if j < 0 {
				return nil, false
			}
			cur = c[j].Value
		case bson.A:
			var out bson.A
			for _, e := range c {
				d, ok := e.(bson.D)
				if !ok {
					continue
				}
				v, ok := keyValue(d, path[i:])
				if !ok {
					continue
				}
				if a, ok := v.(bson.A); ok {
					out = append(out, a...)
				} else {
					out = append(out, v)
				}
			}
			return out, len(out) > 0
		default:
			return nil, false
		}
	}
	return cur, true
}

func names(idxs []uniqueIndex) []string {
	var out []string
	for _, ix := range idxs {
		out = append(out, ix.name)
	}
	return out
}
