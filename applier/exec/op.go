// Package exec sends the applier's ops to the destination (Executor):
// document writes hash-partitioned by (namespace, _id) over workers, each
// worker in oplog order with write commands of at most BulkSize
// statements; commands alone, as barriers. Replays over a newer
// destination follow the re-application rules (reapply.go, unique.go,
// deferred.go), and a mongos destination gets the shard key in each
// statement (sharded.go).
package exec

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Kind is the write an op sends for its document.
type Kind uint8

const (
	// KindInsert inserts Doc; a document already there (a replay) is
	// replaced by it instead. Runs of inserts go as one insert command.
	KindInsert Kind = iota + 1
	// KindReplace replaces the document ID by Doc, upserting (through a
	// pipeline when Doc has top-level $-prefixed field names).
	KindReplace
	// KindUpdate applies the update document Doc to ID, upserting.
	KindUpdate
	// KindDelete deletes the document ID.
	KindDelete
)

// Op is one destination action derived from an oplog entry.
type Op struct {
	Seq uint64
	TS  bson.Timestamp
	NS  string // destination namespace

	// A document write of Kind on collection NS, for the document ID.
	ID   bson.RawValue
	Kind Kind
	// FromDiff marks a KindUpdate translated from a $v:2 diff: a
	// statement that meets a non-viable path is applied to the current
	// document by mongod's diff rules (see reapplyNonViable). It sits in
	// Kind's padding: Op stays as small as the hot path needs.
	FromDiff bool
	Doc      bson.Raw
	// Key is the document key the entry logged when it holds more than
	// _id (o2 of an update, o of a delete): a sharded source logs the
	// document's shard key there. A mongos destination sharded on the
	// same fields targets the statement by it. A pointer, nil for a
	// replica set's entries: ops are copied by value on the hot path, and
	// a slice here would grow every Op by 24 bytes (8% fewer inserts per
	// second on the CPU path).
	Key *bson.Raw
	// Fetch, if set, computes the replacement from the destination's
	// current document (diffs a plain $set/$unset cannot express); nil
	// means there is nothing to write.
	Fetch func(current bson.Raw) (bson.Raw, error)

	// A command: runs alone once every earlier write is acknowledged.
	Cmd  func(ctx context.Context, c *mongo.Client) error
	Desc string
}

// IndexBuild is a createIndexes command, kept to be run again later.
type IndexBuild struct {
	DB    string
	Cmd   bson.Raw
	Names string
}

// IndexConflictError, from an op's Cmd, is an index build that met
// duplicate keys: inside a replay window, later entries remove them, and
// the build is deferred.
type IndexConflictError struct {
	Build *IndexBuild
	Err   error
}

func (e *IndexConflictError) Error() string { return e.Err.Error() }
func (e *IndexConflictError) Unwrap() error { return e.Err }

// ErrAlreadyApplied, wrapped in an op's Cmd error, marks a command whose
// effect the destination already holds (a replay): the executor counts it
// and goes on.
var ErrAlreadyApplied = errors.New("already applied")

// RenamedError, from an op's Cmd, reports a rename that took effect (Err
// nil) or had already (ErrAlreadyApplied): the executor moves the deferred
// work of the collection along.
type RenamedError struct {
	From, To string
	Err      error
}

func (r *RenamedError) Error() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return "renamed " + r.From + " to " + r.To
}

func (r *RenamedError) Unwrap() error { return r.Err }

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

// Logged makes an Op.Key; nil stays nil.
func Logged(key bson.Raw) *bson.Raw {
	if key == nil {
		return nil
	}
	// A copy of key escapes, not key: the parameter itself would be moved
	// to the heap on every call, nil or not.
	k := key
	return &k
}

// keyRaw is the key the entry logged, nil when none.
func (op *Op) keyRaw() bson.Raw {
	if op.Key == nil {
		return nil
	}
	return *op.Key
}
