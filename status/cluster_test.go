package status

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/store"
)

// A sharded sync is copying while any shard is, and then at its own stage:
// the words its state files record.
func TestRecorder_ClusterCopiesWhileAShardCopies(t *testing.T) {
	r := New("sync")
	r.SetStage(store.StageApplied)
	a, b := r.Shard("a"), r.Shard("b")
	a.SetStage(store.StageCopying)
	b.SetStage(store.StageApplied)
	if s := r.Snapshot(); s.Stage != "copying" || s.Shards["a"].Stage != "copying" || s.Shards["b"].Stage != "applying" {
		t.Fatalf("shard a copying: stage %q, shards a %q, b %q", s.Stage, s.Shards["a"].Stage, s.Shards["b"].Stage)
	}
	a.SetStage(store.StageApplied)
	if s := r.Snapshot(); s.Stage != "applying" {
		t.Fatalf("every shard applying: stage %q", s.Stage)
	}
}
