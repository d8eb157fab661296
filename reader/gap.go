package reader

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// initiatingSet is the message of the no-op a replica set writes as its very
// first oplog entry (replSetInitiate). While the oldest entry is that one,
// the oplog has never been trimmed and no start is too old; MongoDB's change
// streams judge lost history the same way.
const initiatingSet = "initiating set"

// checkStart refuses a fresh start older than the oldest entry the oplog
// holds: the entries in between are gone, and spooling from the oldest one
// left would lose them without a word. Starting at the oldest entry, or
// after it, is fine.
func (o *OplogSource) checkStart(ctx context.Context, start bson.Timestamp) error {
	what := "the start " + oplog.FormatTS(start)
	if o.StartFrom != "" {
		what += " (" + o.StartFrom + ")"
	}
	oldest, err := o.oplog().FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: 1}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("%w: %s is given but the source's oplog is empty, so the entries from it on are gone or were never there: "+
			"start over with an empty spool and state file (a fresh copy)", ErrRolledOver, what)
	}
	if err != nil {
		return fmt.Errorf("find the oldest oplog entry: %w", err)
	}
	ots := tsOf(oldest)
	if !start.Before(ots) || isInitiatingSet(oldest) {
		return nil
	}
	return fmt.Errorf("%w: %s is older than the oldest entry the source's oplog holds, %s; the entries in between are gone. "+
		"Start over with an empty spool and state file: a fresh copy (mongo-sync copy or sync) pins a new T0", ErrRolledOver, what, oplog.FormatTS(ots))
}

func isInitiatingSet(raw bson.Raw) bool {
	op, _ := raw.Lookup("op").StringValueOK()
	msg, _ := raw.Lookup("o", "msg").StringValueOK()
	return op == "n" && msg == initiatingSet
}
