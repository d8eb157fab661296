package status

import (
	"time"

	"github.com/mongo-sync/mongo-sync/store"
	"github.com/prometheus/client_golang/prometheus"
)

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
		if x.Stage == string(store.StageCopying) {
			s.Stage = x.Stage
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
