// Package status is what a running mongo-sync tells its operator: a JSON
// /status document and Prometheus /metrics, served on http.listen (loopback
// unless the config says otherwise). Stages report through a Recorder; a nil
// Recorder records nothing.
//
// The Recorder (this file) takes the stages' reports; snapshot.go makes
// the /status document of them, metrics.go the /metrics, cluster.go the
// sum of a sharded sync's shards, lag.go the one lag all of them report.
package status

import (
	"sync"
	"time"

	"github.com/mongo-sync/mongo-sync/store"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

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

	// reg is the registry behind /metrics (see Shard); metrics are this
	// recorder's own.
	reg *prometheus.Registry
	metrics
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

// newRecorder makes a Recorder whose metrics register with reg.
func newRecorder(stage string, reg prometheus.Registerer) *Recorder {
	r := &Recorder{snap: Snapshot{Stage: stage, StartedAt: time.Now().UTC()}}
	r.metrics = newMetrics(r)
	reg.MustRegister(r.collectors()...)
	return r
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

// SetStage records the process's stage, as its state file records it.
func (r *Recorder) SetStage(s store.Stage) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.snap.Stage = string(s)
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
