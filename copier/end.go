package copier

import (
	"context"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// EndWitness gives the copy its end (copy_end) from the reader of the same
// process, which reads the oplog anyway, instead of a read of the oplog's
// newest entry (a scan of the whole oplog on the test server).
//
// The reader reports through Idle each time an oplog cursor has nothing
// more to give: when that cursor's query began (opened), and the newest ts
// it has read (through). The claim of a report: every entry of the synced
// namespaces that the source had majority-committed when the query began is
// at or before through. It holds because the cursor's query (majority read
// concern) saw every such entry, the reader read all the cursor returned,
// and later answers only add newer entries. An empty answer of a cursor
// opened earlier proves nothing about the moment after it opened: on the
// test server an awaited getMore can come back empty at its deadline while
// entries wait (its internal re-query outlasts maxTimeMS on a large oplog);
// only the cursor's first query, drained, is complete.
//
// The copy ends at e, once its last source read has returned. A report
// whose cursor was opened at or after e is a valid copy_end: every document
// the copy read reflects writes majority-committed before e, whose entries
// are at or before through; an entry after through was not committed at e,
// so the copy cannot have seen it. Entries of other namespaces do not
// matter (the applier skips them), which makes through no later than the
// source's newest entry, and the destination consistent sooner.
//
// A reader keeps its cursor open while it has one, so Through asks for a
// fresh one: Idle answers true while a report opened at or after e is
// wanted, and the reader then re-opens its cursor.
type EndWitness struct {
	mu      sync.Mutex
	opened  time.Time // the newest report's cursor query began then
	through bson.Timestamp
	want    time.Time     // Through waits for a report opened at or after this
	wake    chan struct{} // closed on each report
}

// NewEndWitness returns a witness without reports.
func NewEndWitness() *EndWitness { return &EndWitness{wake: make(chan struct{})} }

// Idle records a report: a cursor whose query began at opened has nothing
// more to give, and the reader has read every entry it returned, the
// newest at through. It returns true when the reader should open a fresh
// cursor, because a report of a later query is wanted.
func (w *EndWitness) Idle(opened time.Time, through bson.Timestamp) (reopen bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !opened.Before(w.opened) {
		w.opened = opened
		if w.through.Before(through) {
			w.through = through
		}
	}
	close(w.wake)
	w.wake = make(chan struct{})
	return !w.want.IsZero() && w.opened.Before(w.want)
}

// Through waits, at most wait, for a report whose cursor was opened at or
// after at, and returns its position; false when none came in time (the
// source was never idle, or no reader runs).
func (w *EndWitness) Through(ctx context.Context, at time.Time, wait time.Duration) (bson.Timestamp, bool, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	w.mu.Lock()
	if w.want.Before(at) {
		w.want = at
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.want = time.Time{}
		w.mu.Unlock()
	}()
	for {
		w.mu.Lock()
		if !w.opened.IsZero() && !w.opened.Before(at) {
			ts := w.through
			w.mu.Unlock()
			return ts, true, nil
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			return bson.Timestamp{}, false, nil
		case <-ctx.Done():
			return bson.Timestamp{}, false, ctx.Err()
		}
	}
}
