package status

import "time"

// Lag is the one lag mongo-sync reports, in /status, /metrics, `mongo-sync
// status` and its logs: how far the applier is behind what the source has
// written. through is the newest source time the destination is known to
// hold (see Snapshot.AppliedThrough); caughtUp says the reader had read and
// spooled everything the source had and the applier has applied all of it.
// The lag is now minus through, or zero when caught up; ok is false while
// there is no position to measure from (nothing known to be applied).
//
// On an idle source it stays small: the reader's idle reports move through
// forward (the source had nothing more), and the periodic no-ops a replica
// set logs reach the applier as position markers.
func Lag(now, through time.Time, caughtUp bool) (lag time.Duration, ok bool) {
	if through.IsZero() {
		return 0, false
	}
	if caughtUp {
		return 0, true
	}
	return max(0, now.Sub(through)), true
}

// Lag is this recorder's lag now (see the function Lag); ok is false before
// there is a position, and on a nil Recorder.
func (r *Recorder) Lag() (time.Duration, bool) {
	if r == nil {
		return 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	through, caughtUp := r.position()
	return Lag(time.Now(), through, caughtUp)
}

// position is applied_through and whether the applier is caught up with
// the source. Called under the lock.
func (r *Recorder) position() (through time.Time, caughtUp bool) {
	through = r.appliedWall
	if r.caughtUpAt.After(through) {
		through = r.caughtUpAt
	}
	// Caught up: the applier has passed the newest idle report, and nothing
	// was spooled after it.
	caughtUp = !r.caughtUpAt.IsZero() && !r.idlePending && (r.snap.Reader == nil || r.snap.Reader.Seq == r.idleSeq)
	return through, caughtUp
}
