package status

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func ts(t uint32) bson.Timestamp { return bson.Timestamp{T: t, I: 1} }

// lagMS is a snapshot's lag_ms, -1 when it has none.
func lagMS(s Snapshot) int64 {
	if s.LagMS == nil {
		return -1
	}
	return *s.LagMS
}

// applied_through, caught_up_at, lag_ms and can_cutover follow the applier
// and the reader's idle reports; an idle report counts only once the applier
// has passed what was spooled when it came.
func TestRecorder_AppliedThroughAndCutover(t *testing.T) {
	r := New("sync")
	if s := r.Snapshot(); s.AppliedThrough != nil || s.CanCutover || s.LagMS != nil {
		t.Fatalf("nothing applied yet: %+v", s)
	}

	hourAgo := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	r.Spooled(10, 10, ts(100))
	r.Applied(5, 5, ts(90), hourAgo, time.Millisecond)
	s := r.Snapshot()
	if s.AppliedThrough == nil || !s.AppliedThrough.Equal(hourAgo) {
		t.Fatalf("applied_through = %v, want the applied entry's wall time %v", s.AppliedThrough, hourAgo)
	}
	if lagMS(s) < time.Hour.Milliseconds() || s.CanCutover || s.Consistent {
		t.Fatalf("an hour behind, copy not passed: %+v", s)
	}

	// The reader has everything the source has, but the applier is at 5
	// of 10: the report waits for the applier.
	idle := time.Now().Add(-time.Minute)
	r.SourceIdle(idle)
	if s := r.Snapshot(); s.CaughtUpAt != nil {
		t.Fatalf("caught_up_at %v before the applier passed seq 10", s.CaughtUpAt)
	}
	r.Consistent()
	r.Applied(5, 10, ts(100), time.Time{}, time.Millisecond)
	s = r.Snapshot()
	if s.CaughtUpAt == nil || !s.CaughtUpAt.Equal(idle.UTC()) || !s.AppliedThrough.Equal(idle.UTC()) {
		t.Fatalf("after the applier passed the idle report: caught_up_at %v, applied_through %v, want %v", s.CaughtUpAt, s.AppliedThrough, idle)
	}
	if lagMS(s) != 0 || !s.CanCutover {
		t.Fatalf("caught up and consistent: lag_ms %d, can_cutover %v", lagMS(s), s.CanCutover)
	}

	// A new append after the idle report: lagging again until the applier
	// passes it and the reader reports idle once more.
	r.Spooled(1, 11, ts(200))
	if s := r.Snapshot(); lagMS(s) < time.Minute.Milliseconds() || s.CanCutover {
		t.Fatalf("an unapplied append: lag_ms %d, can_cutover %v", lagMS(s), s.CanCutover)
	}
	r.Applied(1, 11, ts(200), time.Time{}, time.Millisecond)
	r.SourceIdle(time.Now())
	if s := r.Snapshot(); lagMS(s) != 0 || !s.CanCutover {
		t.Fatalf("caught up again: lag_ms %d, can_cutover %v", lagMS(s), s.CanCutover)
	}
}

// A nil Recorder records nothing and does not panic.
func TestRecorder_Nil(t *testing.T) {
	var r *Recorder
	r.SourceIdle(time.Now())
	r.Consistent()
	r.Applied(1, 1, ts(1), time.Now(), 0)
	r.SetIdentity(Identity{})
}

// A sharded sync's /status sums its shards up: consistent and can_cutover
// only when every shard is, the oldest applied_through, the largest lag;
// metrics carry the shard label.
func TestRecorder_Shards(t *testing.T) {
	r := New("sync")
	r.SetIdentity(Identity{Command: "sync", Source: "shards rs1, rs2", PID: 7})
	a, b := r.Shard("rs1"), r.Shard("rs2")
	old := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for _, x := range []*Recorder{a, b} {
		x.Consistent()
		x.Spooled(3, 3, ts(10))
	}
	a.Applied(3, 3, ts(10), time.Time{}, 0)
	a.SourceIdle(time.Now())
	b.Applied(2, 2, ts(9), old, 0)
	s := r.Snapshot()
	if len(s.Shards) != 2 || !s.Consistent || s.CanCutover || s.AppliedTotal != 5 || s.LagEntries != 1 {
		t.Fatalf("cluster: %+v", s)
	}
	if s.Identity == nil || s.Identity.Source != "shards rs1, rs2" || s.Identity.PID != 7 {
		t.Fatalf("cluster identity: %+v", s.Identity)
	}
	if s.AppliedThrough == nil || !s.AppliedThrough.Equal(old.UTC()) || lagMS(s) < time.Minute.Milliseconds() {
		t.Fatalf("applied_through %v (want rs2's %v), lag_ms %d", s.AppliedThrough, old, lagMS(s))
	}
	if !s.Shards["rs1"].CanCutover || s.Shards["rs2"].CanCutover {
		t.Fatalf("per shard: rs1 %+v, rs2 %+v", s.Shards["rs1"], s.Shards["rs2"])
	}
	mfs, err := r.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	labelled := 0
	for _, mf := range mfs {
		if mf.GetName() != "mongo_sync_entries_applied_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "shard" {
					labelled++
				}
			}
		}
	}
	if labelled != 2 {
		t.Fatalf("mongo_sync_entries_applied_total has %d series with a shard label, want 2", labelled)
	}
}
