package pipeline

import (
	"context"

	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
)

// liveSpool hands the reader's spool writer to the applier of the same
// process: the applier reads the open segment through it and is woken on
// every append and seal, so an entry does not wait for a seal.
type liveSpool struct {
	wake  chan struct{}
	ready chan struct{} // closed once w is set
	w     *spool.Writer
	end   *copier.EndWitness // hears the reader's idle reports (idleReporter)
	// gate orders this shard's applier with the other shards' (a sharded
	// source); nil for a replica set.
	gate *gate.ShardGate
}

func newLiveSpool() *liveSpool {
	return &liveSpool{wake: make(chan struct{}, 1), ready: make(chan struct{})}
}

// notify wakes the applier; a wake already pending covers this one.
func (l *liveSpool) notify() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// set hands over w, once it has recovered the spool.
func (l *liveSpool) set(w *spool.Writer) {
	l.w = w
	close(l.ready)
}

// writer waits for the reader's writer; false if ctx ends first.
func (l *liveSpool) writer(ctx context.Context) (*spool.Writer, bool) {
	select {
	case <-l.ready:
		return l.w, true
	case <-ctx.Done():
		return nil, false
	}
}

// shardGate is the cross-shard gate, nil outside a sharded sync.
func (l *liveSpool) shardGate() *gate.ShardGate {
	if l == nil {
		return nil
	}
	return l.gate
}

// idleReporter is what the reader of a sync tells the copy's end witness
// through; nil outside sync.
func (l *liveSpool) idleReporter() reader.IdleReporter {
	if l == nil || l.end == nil {
		return nil
	}
	return l.end
}
