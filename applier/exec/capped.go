package exec

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A capped collection keeps its documents in insertion order and, once
// full, removes the oldest: two workers inserting into one out of oplog
// order would leave other documents on the destination than on the
// source once it wraps. Every write to a capped collection goes to one
// worker (by namespace alone), in oplog order.

// cappedColls knows which destination collections are capped, read per
// database with listCollections when a run first writes to it, and
// forgotten after any command (a create, drop, rename or convertToCapped
// may change the answer).
type cappedColls struct {
	dbs map[string]map[string]bool // database → capped collection names
}

func (c *cappedColls) forget() { c.dbs = nil }

// capped reports whether ns is a capped collection, as last read.
func (c *cappedColls) capped(ns string) bool {
	db, coll := splitNS(ns)
	return c.dbs[db][coll]
}

// learn reads the capped collections of every database ops write to that
// it has not read since the last command.
func (x *Executor) learnCapped(ctx context.Context, ops []Op) error {
	c := &x.cappedColls
	last := ""
	for i := range ops {
		if ops[i].NS == last {
			continue
		}
		last = ops[i].NS
		db, _ := splitNS(last)
		if _, ok := c.dbs[db]; ok {
			continue
		}
		names, err := x.Client.Database(db, x.readOpts()).ListCollectionNames(ctx,
			bson.D{{Key: "options.capped", Value: true}})
		if err != nil {
			return fmt.Errorf("list the capped collections of database %s on the destination: %w", db, err)
		}
		set := make(map[string]bool, len(names))
		for _, n := range names {
			set[n] = true
		}
		if c.dbs == nil {
			c.dbs = map[string]map[string]bool{}
		}
		c.dbs[db] = set
	}
	return nil
}
