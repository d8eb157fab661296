package status

import (
	"time"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Position is a place in the spool.
type Position struct {
	Seq uint64 `json:"seq"`
	TS  string `json:"ts,omitempty"`
	// TSUnix is the ts's seconds, for lag.
	TSUnix int64 `json:"ts_unix,omitempty"`
}

// CopyProgress is one collection's initial copy.
type CopyProgress struct {
	Docs      int64 `json:"docs"`
	Estimated int64 `json:"estimated_docs"`
	Bytes     int64 `json:"bytes"`
	Done      bool  `json:"done"`
}

// CutoverLag is the lag under which /status says can_cutover.
const CutoverLag = 2 * time.Second

// Identity says which process a /status document comes from.
type Identity struct {
	Command     string `json:"command"`         // sync, reader, applier, copy, ...
	Shard       string `json:"shard,omitempty"` // --shard, for one shard's stage
	Source      string `json:"source"`          // passwords hidden
	Destination string `json:"destination"`
	Config      string `json:"config,omitempty"` // the file given with -f
	Version     string `json:"version"`
	PID         int    `json:"pid"`
}

// Snapshot is the /status document.
type Snapshot struct {
	Identity *Identity `json:"identity,omitempty"`
	// Stage is the process's store.Stage (SetStage), or the name New was
	// given until it records one.
	Stage     string    `json:"stage"`
	StartedAt time.Time `json:"started_at"`
	// Time is when the snapshot was taken, on this process's clock.
	Time time.Time `json:"time"`
	// Consistent: the initial copy is done and the applier has passed its
	// end (or there was no copy).
	Consistent bool `json:"consistent"`
	// CanCutover: consistent, and the lag is under CutoverLag.
	CanCutover bool `json:"can_cutover"`
	// AppliedThrough is the newest source time the destination is known to
	// hold: the wall time of the newest applied entry, or, when the reader
	// had spooled everything the source had and the applier has applied
	// it, the moment the reader saw that (this process's clock).
	AppliedThrough *time.Time `json:"applied_through,omitempty"`
	// CaughtUpAt is the latter alone: at that moment the reader had
	// everything the source had, and the applier has applied all of it.
	CaughtUpAt *time.Time `json:"caught_up_at,omitempty"`
	// LagMS is how far the applier is behind what the source has written
	// (see Lag): now minus AppliedThrough, or 0 while the reader is caught
	// up and the applier has applied everything spooled. Absent (nil)
	// before anything is known to be applied.
	LagMS   *int64    `json:"lag_ms,omitempty"`
	Reader  *Position `json:"reader,omitempty"`
	Applier *Position `json:"applier,omitempty"`
	// LagSeconds is LagMS in seconds, as /metrics has it.
	LagSeconds     *float64                `json:"lag_seconds,omitempty"`
	LagEntries     int64                   `json:"lag_entries"`
	Copy           map[string]CopyProgress `json:"copy,omitempty"`
	LastError      string                  `json:"last_error,omitempty"`
	LastErrorAt    *time.Time              `json:"last_error_at,omitempty"`
	SpoolBytes     int64                   `json:"spool_bytes"`
	RetriesTotal   int64                   `json:"retries_total"`
	AppliedTotal   int64                   `json:"applied_total"`
	SpooledTotal   int64                   `json:"spooled_total"`
	ReaderCaughtUp bool                    `json:"reader_caught_up"`
	// Shards are the shards of a sharded source, by name; the fields above
	// then sum them up: consistent and can_cutover when every shard is,
	// the oldest applied_through, the largest lag, the sums of counts.
	Shards map[string]Snapshot `json:"shards,omitempty"`
}

func pos(seq uint64, ts bson.Timestamp) *Position {
	return &Position{Seq: seq, TS: tsString(ts), TSUnix: int64(ts.T)}
}

func tsString(ts bson.Timestamp) string {
	if ts.IsZero() {
		return ""
	}
	return oplog.FormatTS(ts)
}

// Snapshot returns the current /status document.
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	shards := r.shards
	r.mu.Unlock()
	if len(shards) > 0 {
		return r.clusterSnapshot(shards)
	}
	return r.snapshot()
}

// snapshot is one recorder's own /status.
func (r *Recorder) snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap
	s.Copy = make(map[string]CopyProgress, len(r.snap.Copy))
	for k, v := range r.snap.Copy {
		s.Copy[k] = v
	}
	if s.Applier != nil && s.Reader != nil {
		s.LagEntries = max(0, int64(s.Reader.Seq)-int64(s.Applier.Seq))
	}
	s.Time = time.Now().UTC()
	r.through(&s)
	return s
}

// through fills AppliedThrough, CaughtUpAt, LagMS and CanCutover. Called
// under the lock.
func (r *Recorder) through(s *Snapshot) {
	if !r.caughtUpAt.IsZero() {
		c := r.caughtUpAt.UTC()
		s.CaughtUpAt = &c
	}
	at, caughtUp := r.position()
	lag, ok := Lag(s.Time, at, caughtUp)
	if !ok {
		return
	}
	at = at.UTC()
	s.AppliedThrough = &at
	ms, sec := lag.Milliseconds(), float64(lag.Milliseconds())/1000
	s.LagMS, s.LagSeconds = &ms, &sec
	s.CanCutover = s.Consistent && lag <= CutoverLag
}
