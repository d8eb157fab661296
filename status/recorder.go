// Package status is what a running mongo-sync tells its operator: a JSON
// /status document and Prometheus /metrics, served on http.listen (loopback
// unless the config says otherwise). Stages report through a Recorder; a nil
// Recorder records nothing.
package status

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
	Identity  *Identity `json:"identity,omitempty"`
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

// Recorder collects the state and metrics of one process.
type Recorder struct {
	mu   sync.Mutex
	snap Snapshot
	// appliedWall is the wall time of the newest applied entry.
	appliedWall time.Time
	// idleAt/idleSeq: the reader's newest report that it had spooled
	// everything the source had, up to seq idleSeq; pending until the
	// applier passes idleSeq, then it becomes caughtUpAt.
	idleAt      time.Time
	idleSeq     uint64
	idlePending bool
	caughtUpAt  time.Time

	reg          *prometheus.Registry
	read         prometheus.Counter
	spooled      prometheus.Counter
	applied      prometheus.Counter
	batchSeconds prometheus.Histogram
	lag          *lagCollector
	spoolBytes   prometheus.Gauge
	retries      prometheus.Counter
	errors       *prometheus.CounterVec
	copied       *prometheus.CounterVec
	reapply      *prometheus.CounterVec
	// shards are the recorders of a sharded sync's shards (see Shard).
	shards []namedRecorder
}

// New returns a Recorder with its own Prometheus registry.
func New(stage string) *Recorder {
	reg := prometheus.NewRegistry()
	r := newRecorder(stage, reg)
	r.reg = reg
	return r
}

// metricNamespace prefixes every metric: mongo_sync_*.
const metricNamespace = "mongo_sync"

// newRecorder makes a Recorder whose metrics register with reg.
func newRecorder(stage string, reg prometheus.Registerer) *Recorder {
	r := &Recorder{snap: Snapshot{Stage: stage, StartedAt: time.Now().UTC()}}
	f := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricNamespace, Name: name, Help: help})
	}
	r.read = f("entries_read_total", "Oplog entries read from the source.")
	r.spooled = f("entries_spooled_total", "Oplog entries appended to the spool.")
	r.applied = f("entries_applied_total", "Spooled entries applied to the destination.")
	r.retries = f("retries_total", "Operations retried after a retryable error (network, not primary, timeout).")
	r.batchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metricNamespace, Name: "apply_batch_seconds",
		Help: "Time to apply one batch and record its checkpoint.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)})
	r.lag = newLagCollector(r)
	r.spoolBytes = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricNamespace, Name: "spool_bytes", Help: "Bytes the spool holds on disk."})
	r.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricNamespace, Name: "errors_total",
		Help: "Errors by class: retryable (retried), conflict (unique index, replayed serially), fatal (stopped a stage)."}, []string{"class"})
	r.copied = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricNamespace, Name: "copied_docs_total",
		Help: "Documents copied by the initial copy."}, []string{"ns"})
	r.reapply = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricNamespace, Name: "reapply_noops_total",
		Help: "Replayed writes that met a newer destination state and were resolved by an oplog-application rule, by reason."}, []string{"reason"})
	reg.MustRegister(r.collectors()...)
	return r
}

func (r *Recorder) collectors() []prometheus.Collector {
	return []prometheus.Collector{r.read, r.spooled, r.applied, r.retries, r.batchSeconds, r.lag, r.spoolBytes, r.errors, r.copied, r.reapply}
}

// Shard returns the recorder of one shard's stages in a sharded sync. Its
// metrics carry a shard label in this recorder's registry (this
// recorder's own, unlabelled ones leave /metrics at the first shard), and
// its snapshot appears under shards in this one's /status, which sums
// them up (see Snapshot).
func (r *Recorder) Shard(name string) *Recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shards == nil {
		// A registry of the shards' metrics alone: a metric's label names
		// cannot change within one registry.
		r.reg = prometheus.NewRegistry()
	}
	c := newRecorder(r.snap.Stage, prometheus.WrapRegistererWith(prometheus.Labels{"shard": name}, r.reg))
	r.shards = append(r.shards, namedRecorder{name, c})
	return c
}

type namedRecorder struct {
	name string
	rec  *Recorder
}

// Registry is the Prometheus registry behind /metrics.
func (r *Recorder) Registry() *prometheus.Registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reg
}

// Gather gathers the registry behind /metrics now (a sharded sync's
// shards replace it: see Shard).
func (r *Recorder) Gather() ([]*dto.MetricFamily, error) { return r.Registry().Gather() }

func pos(seq uint64, ts bson.Timestamp) *Position {
	return &Position{Seq: seq, TS: tsString(ts), TSUnix: int64(ts.T)}
}

func tsString(ts bson.Timestamp) string {
	if ts.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d,%d", ts.T, ts.I)
}

// SetIdentity records which process this is, shown first in /status.
func (r *Recorder) SetIdentity(id Identity) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.Identity = &id
}

// SetStage records the process's stage (copying, applying, ...).
func (r *Recorder) SetStage(s string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.snap.Stage = s
	r.mu.Unlock()
}

// Read counts entries read from the source.
func (r *Recorder) Read(n int) {
	if r != nil {
		r.read.Add(float64(n))
	}
}

// Spooled records an append: n entries up to seq/ts.
func (r *Recorder) Spooled(n int, seq uint64, ts bson.Timestamp) {
	if r == nil {
		return
	}
	r.spooled.Add(float64(n))
	r.mu.Lock()
	r.snap.Reader = pos(seq, ts)
	r.snap.SpooledTotal += int64(n)
	r.mu.Unlock()
}

// CaughtUp records that the reader has read everything the source has.
func (r *Recorder) CaughtUp(yes bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.snap.ReaderCaughtUp = yes
	r.mu.Unlock()
}

// SourceIdle records that at time at the reader had read everything the
// source had and spooled all of it (nothing pending in memory): once the
// applier passes what is spooled now, the destination holds the source as
// it was at that moment.
func (r *Recorder) SourceIdle(at time.Time) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var seq uint64
	if r.snap.Reader != nil {
		seq = r.snap.Reader.Seq
	}
	if !at.After(r.idleAt) && !r.idleAt.IsZero() {
		return // an older cursor's report: the newer one stands
	}
	r.idleAt, r.idleSeq, r.idlePending = at, seq, true
	r.settleIdle()
}

// settleIdle turns a pending idle report into caughtUpAt once the applier
// has passed it. Called under the lock.
func (r *Recorder) settleIdle() {
	// No applier position yet (it records its checkpoint when it starts):
	// nothing is known to be applied.
	if r.snap.Applier == nil {
		return
	}
	if r.idlePending && r.snap.Applier.Seq >= r.idleSeq {
		r.caughtUpAt, r.idlePending = r.idleAt, false
	}
}

// Positions records where a stage starts: the reader's newest spooled
// entry, the applier's checkpoint (a zero seq records nothing). Without
// them, a restarted process would count an idle report as caught up
// before it knew of what the spool already held.
func (r *Recorder) Positions(readerSeq uint64, readerTS bson.Timestamp, appliedSeq uint64, appliedTS bson.Timestamp, applier bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if readerSeq > 0 && (r.snap.Reader == nil || r.snap.Reader.Seq < readerSeq) {
		r.snap.Reader = pos(readerSeq, readerTS)
	}
	if applier && r.snap.Applier == nil {
		r.snap.Applier = pos(appliedSeq, appliedTS)
		// A checkpoint is a position: the destination holds the source
		// through its ts.
		if w := time.Unix(int64(appliedTS.T), 0); !appliedTS.IsZero() && w.After(r.appliedWall) {
			r.appliedWall = w
		}
	}
	r.settleIdle()
}

// Consistent records that the destination is consistent: the copy is done
// and the applier has passed its end, or there was no copy.
func (r *Recorder) Consistent() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.snap.Consistent = true
	r.mu.Unlock()
}

// Applied records a checkpoint after n entries applied in d; wall is the
// wall time the source logged for the checkpoint's entry (zero if none).
func (r *Recorder) Applied(n int, seq uint64, ts bson.Timestamp, wall time.Time, d time.Duration) {
	if r == nil {
		return
	}
	r.applied.Add(float64(n))
	r.batchSeconds.Observe(d.Seconds())
	if wall.IsZero() {
		wall = time.Unix(int64(ts.T), 0)
	}
	r.mu.Lock()
	r.snap.Applier = pos(seq, ts)
	r.snap.AppliedTotal += int64(n)
	if wall.After(r.appliedWall) {
		r.appliedWall = wall
	}
	r.settleIdle()
	r.mu.Unlock()
}

// SpoolBytes records the spool's size on disk.
func (r *Recorder) SpoolBytes(n int64) {
	if r == nil {
		return
	}
	r.spoolBytes.Set(float64(n))
	r.mu.Lock()
	r.snap.SpoolBytes = n
	r.mu.Unlock()
}

// Retry counts one retried operation (a retryable error).
func (r *Recorder) Retry(err error) {
	if r == nil {
		return
	}
	r.retries.Inc()
	r.errors.WithLabelValues("retryable").Inc()
	r.mu.Lock()
	r.snap.RetriesTotal++
	r.setError(err)
	r.mu.Unlock()
}

// Conflict counts a unique-index conflict replayed serially.
func (r *Recorder) Conflict() {
	if r != nil {
		r.errors.WithLabelValues("conflict").Inc()
	}
}

// ReapplyNoop counts a replayed write that an oplog-application rule turned
// into a no-op or resolved (see the applier's re-application rules).
func (r *Recorder) ReapplyNoop(reason string) {
	if r != nil {
		r.reapply.WithLabelValues(reason).Inc()
	}
}

// Fatal records the error that stopped a stage.
func (r *Recorder) Fatal(err error) {
	if r == nil || err == nil {
		return
	}
	r.errors.WithLabelValues("fatal").Inc()
	r.mu.Lock()
	r.setError(err)
	r.mu.Unlock()
}

func (r *Recorder) setError(err error) {
	now := time.Now().UTC()
	r.snap.LastError, r.snap.LastErrorAt = err.Error(), &now
}

// copyEntry updates ns's copy progress under the lock.
func (r *Recorder) copyEntry(ns string, f func(*CopyProgress)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap.Copy == nil {
		r.snap.Copy = map[string]CopyProgress{}
	}
	p := r.snap.Copy[ns]
	f(&p)
	r.snap.Copy[ns] = p
}

// CopyAdd, CopyInc and CopyDone record the initial copy per collection.
func (r *Recorder) CopyAdd(ns string, estimated int64) {
	if r != nil {
		r.copyEntry(ns, func(p *CopyProgress) { p.Estimated = estimated })
	}
}

func (r *Recorder) CopyInc(ns string, docs, bytes int64) {
	if r == nil {
		return
	}
	r.copied.WithLabelValues(ns).Add(float64(docs))
	r.copyEntry(ns, func(p *CopyProgress) { p.Docs += docs; p.Bytes += bytes })
}

func (r *Recorder) CopyDone(ns string) {
	if r != nil {
		r.copyEntry(ns, func(p *CopyProgress) { p.Done = true })
	}
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

// clusterSnapshot is a sharded sync's /status: every shard's, summed up.
func (r *Recorder) clusterSnapshot(shards []namedRecorder) Snapshot {
	r.mu.Lock()
	s := Snapshot{Identity: r.snap.Identity, Stage: r.snap.Stage, StartedAt: r.snap.StartedAt, LastError: r.snap.LastError, LastErrorAt: r.snap.LastErrorAt}
	r.mu.Unlock()
	s.Time = time.Now().UTC()
	s.Shards = make(map[string]Snapshot, len(shards))
	s.Consistent, s.CanCutover, s.ReaderCaughtUp = true, true, true
	unknown := false
	for _, sh := range shards {
		x := sh.rec.snapshot()
		s.Shards[sh.name] = x
		s.Consistent = s.Consistent && x.Consistent
		s.CanCutover = s.CanCutover && x.CanCutover
		s.ReaderCaughtUp = s.ReaderCaughtUp && x.ReaderCaughtUp
		if x.Stage == "copying" {
			s.Stage = "copying"
		}
		switch {
		case x.AppliedThrough == nil || x.LagMS == nil:
			unknown = true // a shard that applied nothing yet: no bound
		case s.AppliedThrough == nil || x.AppliedThrough.Before(*s.AppliedThrough):
			s.AppliedThrough = x.AppliedThrough
		}
		if x.LagMS != nil && (s.LagMS == nil || *x.LagMS > *s.LagMS) {
			s.LagMS, s.LagSeconds = x.LagMS, x.LagSeconds
		}
		s.LagEntries += x.LagEntries
		s.SpoolBytes += x.SpoolBytes
		s.RetriesTotal += x.RetriesTotal
		s.AppliedTotal += x.AppliedTotal
		s.SpooledTotal += x.SpooledTotal
		if x.LastErrorAt != nil && (s.LastErrorAt == nil || x.LastErrorAt.After(*s.LastErrorAt)) {
			s.LastError, s.LastErrorAt = sh.name+": "+x.LastError, x.LastErrorAt
		}
	}
	if unknown {
		s.AppliedThrough, s.LagMS, s.LagSeconds = nil, nil, nil
		s.CanCutover = false
	}
	return s
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
