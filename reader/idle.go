package reader

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// IdleReporter hears, each time an oplog cursor has nothing more to give,
// when that cursor's query began and the newest ts read from the oplog so
// far: every entry the filter keeps that the source had majority-committed
// when the query began is at or before it (the copy takes its end from
// this in sync; see copier.EndWitness). It answers true to have the cursor
// re-opened, when it needs a report of a later query.
type IdleReporter interface {
	Idle(opened time.Time, through bson.Timestamp) (reopen bool)
}

// SpoolAwareReporter is an IdleReporter that also hears whether every entry
// read so far was in the spool when the report was made (nothing held in a
// batch, nothing handed over and not yet appended). A Reader calls
// IdleSpooled instead of Idle on such a reporter. A cross-shard gate needs
// it: a position it trusts must not pass an entry still on its way to the
// spool.
type SpoolAwareReporter interface {
	IdleReporter
	IdleSpooled(opened time.Time, through bson.Timestamp, spooled bool) (reopen bool)
}

// reportIdle tells o.Idle that the cursor opened at opened, tailing from
// from, has nothing more to give, last being the newest entry it emitted
// (or the resume entry). Entries at or after from that the query saw were
// all read, so the newest of them, or from itself, bounds them.
func (o *OplogSource) reportIdle(opened time.Time, last bson.Raw, from bson.Timestamp) (reopen bool) {
	if o.Idle == nil {
		return false
	}
	through := from
	if last != nil && through.Before(tsOf(last)) {
		through = tsOf(last)
	}
	if through.Before(o.newestRead) {
		through = o.newestRead
	}
	return o.Idle.Idle(opened, through)
}
