package exec

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/applier/update"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Re-application: entries replayed over a destination that already holds a
// newer state (the catch-up after the copy, the unacknowledged tail of a
// batch after a restart) follow mongod's oplog-application rules instead of
// failing:
//   - a $set path that is not viable in the current document (a scalar,
//     null or array on the way) is a no-op for that path: the statement is
//     applied in Go to the current document and written as a replacement;
//   - a unique secondary index that a replayed write conflicts with (the
//     entry that gave the holder its key lies later in the window, as does
//     the entry that changes this document's key) is resolved by writing
//     the replayed document with its conflicting key moved aside;
//   - an update of a missing document applies to {_id}.
// Every such case is counted (reapply_noops_total{reason}) and logged at
// debug level.

// Reasons counted by reapply_noops_total.
const (
	ReasonPathNotViable = "path_not_viable"
	ReasonUniqueMoved   = "unique_key_moved_aside"
	ReasonDDLDone       = "ddl_already_applied"
	ReasonCollMoved     = "collection_superseded"
)

// codePathNotViable is MongoDB's PathNotViable ("Cannot create field 'b'
// in element {a: 5}").
const codePathNotViable = 28

// movedAsideField names the placeholder a moved-aside unique key gets: a
// document holding the replayed document's _id, unique by construction.
const movedAsideField = "mongo-sync-moved-aside"

// nonViableAt is the index of the statement a write error reports as a
// non-viable path, when that is the whole error.
func nonViableAt(err error) (int, bool) {
	var we mongo.WriteException
	if !errors.As(err, &we) || we.WriteConcernError != nil || len(we.WriteErrors) != 1 {
		return 0, false
	}
	if e := we.WriteErrors[0]; e.Code == codePathNotViable {
		return e.Index, true
	}
	return 0, false
}

// isDupKey reports a unique-index violation (see mongoerr.DuplicateKey).
func isDupKey(err error) bool { return mongoerr.DuplicateKey(err) }

// Reads of the destination that decide a write go to the primary, whatever
// read preference the URI names, at majority when writes are acknowledged
// by a majority (the default), else at local: a majority read could miss
// the applier's own earlier w:1 write.
var (
	primaryMajority = options.Database().SetReadPreference(readpref.Primary()).SetReadConcern(readconcern.Majority())
	primaryLocal    = options.Database().SetReadPreference(readpref.Primary()).SetReadConcern(readconcern.Local())
)

func (x *Executor) readOpts() *options.DatabaseOptionsBuilder {
	if wc := x.WriteConcern; wc == nil || wc.W != "majority" {
		return primaryLocal
	}
	return primaryMajority
}

// current is the destination's document op.ID (nil when there is none).
func (x *Executor) current(ctx context.Context, op *Op) (bson.Raw, error) {
	db, coll := splitNS(op.NS)
	cur, err := x.Client.Database(db, x.readOpts()).Collection(coll).FindOne(ctx, idFilter(op.ID)).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	return cur, err
}

// afterOp is the document op leaves when applied to cur (nil: no
// document) under oplog-application rules; nonViable counts skipped paths.
func afterOp(op *Op, cur bson.Raw) (doc bson.D, nonViable int, err error) {
	if op.Fetch != nil {
		raw, err := op.Fetch(cur)
		if err != nil || raw == nil {
			return nil, 0, err
		}
		doc, err := update.Decode(raw)
		return doc, 0, err
	}
	switch op.Kind {
	case KindInsert, KindReplace:
		doc, err := update.Decode(op.Doc)
		return doc, 0, err
	case KindUpdate:
		return update.After(cur, op.ID, op.Doc, op.FromDiff)
	}
	return nil, 0, fmt.Errorf("op kind %d has no document", op.Kind)
}

// reapplyNonViable applies op, whose update statement hit a non-viable
// path, to the current document in Go and writes the result.
func (x *Executor) reapplyNonViable(ctx context.Context, op *Op, cause error) error {
	cur, err := x.current(ctx, op)
	if err != nil {
		return err
	}
	doc, skipped, err := afterOp(op, cur)
	if err != nil {
		return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
	}
	x.noop(op, ReasonPathNotViable, logrus.Fields{"paths": skipped, "server": cause.Error()})
	return x.replace(ctx, op, doc)
}

// replace writes doc as the whole document op.ID (upsert), one statement.
func (x *Executor) replace(ctx context.Context, op *Op, doc bson.D) error {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
	}
	r := *op
	r.Kind, r.Doc, r.Fetch = KindReplace, raw, nil
	b := wirecmd.Builder{Bypass: true}
	return x.send(ctx, &b, []Op{r})
}

// noop counts and logs a replay rule that turned a server error into a
// no-op (or a resolved write).
func (x *Executor) noop(op *Op, reason string, f logrus.Fields) {
	x.Rec.ReapplyNoop(reason)
	if x.Log != nil {
		x.Log.WithFields(f).WithFields(logrus.Fields{"seq": op.Seq, "ts": oplog.FormatTS(op.TS), "ns": op.NS, "reason": reason}).
			Debug("re-application rule applied")
	}
}
