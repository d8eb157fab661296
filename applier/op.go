// Package applier drains the spool into the destination: each oplog entry
// becomes idempotent writes, hash-partitioned by (namespace, _id) over
// workers; commands run alone as barriers; the checkpoint moves only after
// the destination acknowledged everything before it.
package applier

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Op is one destination action derived from an oplog entry.
type Op struct {
	Seq uint64
	TS  bson.Timestamp
	NS  string // destination namespace

	// A document write: Model on collection NS, for the document ID.
	ID    bson.RawValue
	Model mongo.WriteModel
	// Insert, if set, is the document of an insert entry: runs of inserts
	// go as one multi-document insert, and Model (a replace-upsert) is used
	// only for documents already there (a replay).
	Insert bson.Raw
	// Fetch, if set, computes the write from the destination's current
	// document (diffs a plain $set/$unset cannot express).
	Fetch func(current bson.Raw) (mongo.WriteModel, error)

	// A command: runs alone once every earlier write is acknowledged.
	Cmd  func(ctx context.Context, c *mongo.Client) error
	Desc string
}

// IsBarrier reports whether the op must run alone.
func (o Op) IsBarrier() bool { return o.Cmd != nil }

// EntryError names the entry an error belongs to.
type EntryError struct {
	Seq uint64
	TS  bson.Timestamp
	NS  string
	Err error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("seq %d ts %d,%d ns %s: %v", e.Seq, e.TS.T, e.TS.I, e.NS, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }
