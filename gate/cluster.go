// Package gate orders the appliers of a sharded source that replay into
// one destination (Cluster): each shard's DDL entries replay in ts order
// relative to every entry of every other shard. A shard's reader feeds its
// gate (ShardGate.Appender, ShardGate.Idle) and its applier asks it before
// each batch (ShardGate.Admit).
package gate

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Cluster orders the appliers of a sharded source that replay into one
// destination. Each shard logs its own entry for a DDL on a collection
// spread over shards, at its own cluster time (ts); replayed independently,
// a shard behind would apply its copy of a drop after another shard's
// writes into the re-created collection. The Cluster keeps, per shard:
//
//   - readThrough: every entry of the shard's oplog with ts <= it is in the
//     shard's spool (its newest appended ts; an idle report made with
//     everything read spooled; the idle clock rule, clock.go; the end of an
//     ended spool);
//   - pending: the ts of its DDL entries in the spool and not yet applied,
//     registered when they are appended (before readThrough passes them);
//   - done: its applier has applied every entry with ts <= done.
//
// and enforces two rules, which together replay every DDL entry in ts order
// relative to every entry of every shard:
//
//   - limit: a shard's applier applies a data entry only when its ts is at
//     or below, for every other shard, that shard's readThrough and the ts
//     before that shard's oldest pending DDL. No other shard can then still
//     spool a DDL at or before it, and none is pending there.
//   - barrier: a shard's applier applies its DDL entry at D only once every
//     other shard's done is at or past the ts before D (everything before D
//     is applied everywhere), and no other shard holds a pending DDL at the
//     same D that orders first (by the order shards were added).
//
// A sharded source runs a DDL under a critical section that blocks writes
// to the collection on every shard: no shard logs a write to it between
// the first and the last shard's copy of the DDL. Replayed in ts order, the
// copy applied second meets the first's result, and each kind tolerates
// that (see applier/translate/command.go: NamespaceNotFound, IndexNotFound, NamespaceExists,
// IndexExists count as done).
//
// It works within one process: the appliers of separate processes do not
// share it.
type Cluster struct {
	// ClockMargin is subtracted from a shard's clock in the idle clock rule
	// (clock.go): the longest an entry may take from being given its ts to
	// being visible to a reader. Default 2s (the test server stamps an
	// entry before it writes it).
	ClockMargin time.Duration

	log     logrus.FieldLogger
	mu      sync.Mutex
	shards  []*ShardGate
	changed chan struct{}       // closed and replaced at each change
	keys    *sharding.ShardKeys // the destination's shard keys, shared (ShareKeys)
}

// NewCluster returns a Cluster without shards; add them with Shard before
// any of their readers or appliers runs.
func NewCluster(log logrus.FieldLogger) *Cluster {
	return &Cluster{ClockMargin: 2 * time.Second, log: log, changed: make(chan struct{})}
}

// Shard adds a shard and returns its gate. clock, if not nil, reads the
// shard's wall clock (HelloClock): it lets an idle shard's readThrough
// follow the shard's clock (clock.go). Pass nil for servers that write a
// periodic no-op (a replica set member: every 10 s), whose idle reports
// move readThrough anyway; HelloClock turns itself off on them.
func (c *Cluster) Shard(name string, clock Clock) *ShardGate {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := &ShardGate{c: c, name: name, idx: len(c.shards), clock: clock,
		log: c.log.WithField("shard", name)}
	c.shards = append(c.shards, g)
	return g
}

// notify wakes every waiter; c.mu is held.
func (c *Cluster) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// tsMax is above every ts: the readThrough of an ended spool.
var tsMax = bson.Timestamp{T: math.MaxUint32, I: math.MaxUint32}

// prevTS is the ts just before ts (zero stays zero).
func prevTS(ts bson.Timestamp) bson.Timestamp {
	switch {
	case ts.I > 0:
		return bson.Timestamp{T: ts.T, I: ts.I - 1}
	case ts.T > 0:
		return bson.Timestamp{T: ts.T - 1, I: math.MaxUint32}
	}
	return ts
}

func maxTS(a, b bson.Timestamp) bson.Timestamp {
	if a.Before(b) {
		return b
	}
	return a
}

func minTS(a, b bson.Timestamp) bson.Timestamp {
	if b.Before(a) {
		return b
	}
	return a
}

// effectiveThrough is g's readThrough as other shards may trust it: zero
// until it is known that every DDL already in g's spool is registered
// (Appender or its applier's Start), and no further than g's applier has
// read while entries spooled before that are still unread. c.mu is held.
func (g *ShardGate) effectiveThrough() bson.Timestamp {
	if !g.known {
		return bson.Timestamp{}
	}
	rt := g.through
	if g.ended {
		rt = tsMax
	}
	if g.scanned.Before(g.capTS) {
		rt = minTS(rt, g.scanned)
	}
	return rt
}

// limit is the newest ts g's applier may apply a data entry at, and the
// shard that bounds it. c.mu is held.
func (c *Cluster) limit(g *ShardGate) (bson.Timestamp, *ShardGate, string) {
	lim, by, why := tsMax, (*ShardGate)(nil), ""
	for _, o := range c.shards {
		if o == g {
			continue
		}
		if rt := o.effectiveThrough(); rt.Before(lim) {
			lim, by, why = rt, o, "read through"
		}
		if len(o.pending) > 0 {
			if p := prevTS(o.pending[0]); p.Before(lim) {
				lim, by, why = p, o, "pending DDL"
			}
		}
	}
	return lim, by, why
}

// barrier reports whether g's DDL entry at d may run, else the shard that
// holds it. c.mu is held.
func (c *Cluster) barrier(g *ShardGate, d bson.Timestamp) (bool, *ShardGate) {
	before := prevTS(d)
	for _, o := range c.shards {
		if o == g {
			continue
		}
		if o.done.Before(before) {
			return false, o
		}
		if o.idx < g.idx && o.hasPending(d) {
			return false, o
		}
	}
	return true, nil
}

// hasPending reports whether ts is one of g's pending DDL entries.
func (g *ShardGate) hasPending(ts bson.Timestamp) bool {
	i := sort.Search(len(g.pending), func(i int) bool { return !g.pending[i].Before(ts) })
	return i < len(g.pending) && g.pending[i].Equal(ts)
}

// addPending registers a DDL entry at ts (once). c.mu is held.
func (g *ShardGate) addPending(ts bson.Timestamp) {
	n := len(g.pending)
	if n == 0 || g.pending[n-1].Before(ts) {
		g.pending = append(g.pending, ts)
		return
	}
	i := sort.Search(n, func(i int) bool { return !g.pending[i].Before(ts) })
	if g.pending[i].Equal(ts) {
		return
	}
	g.pending = append(g.pending, bson.Timestamp{})
	copy(g.pending[i+1:], g.pending[i:])
	g.pending[i] = ts
}

// ShardStatus is one shard's state, for /status.
type ShardStatus struct {
	Name string `json:"name"`
	// ReadThrough: every entry of the shard with ts at or before it is in
	// its spool, as other shards' appliers may trust it.
	ReadThrough bson.Timestamp `json:"read_through"`
	// Done: the shard's applier applied every entry at or before it.
	Done bson.Timestamp `json:"done"`
	// Pending are the ts of the DDL entries spooled and not yet applied.
	Pending []bson.Timestamp `json:"pending_ddl,omitempty"`
	Ended   bool             `json:"ended,omitempty"`
	// WaitingSince is when the shard's applier began to wait for other
	// shards (zero: it does not wait); WaitingFor says for what.
	WaitingSince time.Time `json:"waiting_since,omitzero"`
	WaitingFor   string    `json:"waiting_for,omitempty"`
}

// Snapshot returns every shard's state, in the order they were added.
func (c *Cluster) Snapshot() []ShardStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ShardStatus, len(c.shards))
	for i, g := range c.shards {
		out[i] = ShardStatus{Name: g.name, ReadThrough: g.effectiveThrough(), Done: g.done,
			Pending: append([]bson.Timestamp(nil), g.pending...), Ended: g.ended,
			WaitingSince: g.waitSince, WaitingFor: g.waitFor}
	}
	return out
}
