package applier

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// uniqueIndex is a unique secondary index of a destination collection.
type uniqueIndex struct {
	name   string
	keys   []string // key paths, in order
	sparse bool
}

// uniqueIndexes lists ns's unique secondary indexes. It is read at each
// conflict (they are rare), so it always sees the indexes DDL left.
func (x *Executor) uniqueIndexes(ctx context.Context, ns string) ([]uniqueIndex, error) {
	db, coll := splitNS(ns)
	cur, err := x.Client.Database(db, primaryMajority).Collection(coll).Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var specs []struct {
		Name   string `bson:"name"`
		Key    bson.D `bson:"key"`
		Unique bool   `bson:"unique"`
		Sparse bool   `bson:"sparse"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return nil, err
	}
	var out []uniqueIndex
	for _, s := range specs {
		if !s.Unique || s.Name == "_id_" {
			continue
		}
		ix := uniqueIndex{name: s.Name, sparse: s.Sparse}
		for _, k := range s.Key {
			ix.keys = append(ix.keys, k.Key)
		}
		out = append(out, ix)
	}
	return out, nil
}

// resolveUnique writes op, applied alone in oplog order, whose write still
// conflicts with a unique secondary index: another document holds the key
// op's document gets. The source's own index forbade two holders at once,
// so the entry that gave the holder that key, and the one that changes or
// deletes op's document's key, both lie later in the window. op's document
// is written with each conflicting key moved aside (a placeholder unique to
// its _id); the later entry sets the real value. The holder is never
// touched: deleting it could lose its other fields.
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
	c := x.Client.Database(db, primaryMajority).Collection(coll)
	var moved []string
	for _, ix := range idxs {
		filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: op.ID}}}}
		present := false
		for _, k := range ix.keys {
			v, ok := getPath(doc, strings.Split(k, "."))
			present = present || ok
			filter = append(filter, bson.E{Key: k, Value: v})
		}
		if ix.sparse && !present {
			continue
		}
		err := c.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("look up the holder of index %s: %w", ix.name, err))
		}
		doc, _ = setPath(doc, strings.Split(ix.keys[0], "."), bson.D{{Key: movedAsideField, Value: op.ID}})
		moved = append(moved, fmt.Sprintf("%s %v", ix.name, filter[1:]))
	}
	if len(moved) == 0 {
		return fail(fmt.Errorf("unique index conflict, but no other document holds this document's keys (indexes %v): %w", names(idxs), cause))
	}
	x.noop(op, reasonUniqueMoved, logrus.Fields{"indexes": moved})
	if err := x.replace(ctx, op, doc); err != nil {
		if isDupKey(err) {
			return fail(fmt.Errorf("unique index conflict on %v not resolved by moving the key aside: %w", moved, err))
		}
		return err
	}
	return nil
}

func names(idxs []uniqueIndex) []string {
	var out []string
	for _, ix := range idxs {
		out = append(out, ix.name)
	}
	return out
}
