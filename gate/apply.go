package gate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The applier's side of a ShardGate (applier.Applier.Gate): its Run calls
// Start once, ReadThrough before each read of the spool, Drained when a
// read found nothing, Admit before applying a batch, and Applied after.

// Waits of Admit: the backstop poll (changes are signalled), and how often
// a wait is logged at warn once it lasts.
const (
	gatePoll = time.Second
	gateWarn = 30 * time.Second
)

// Start tells the gate that the applier starts with every entry at or
// before ck applied, and that the spool holds entries up to newest, which
// may hold DDL entries the gate never saw: until the applier has read
// them, other shards do not pass them.
func (g *ShardGate) Start(ck, newest bson.Timestamp, ended bool) {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	g.capTS = maxTS(g.capTS, newest)
	g.scanned = maxTS(g.scanned, ck)
	g.done = maxTS(g.done, ck)
	g.known = true
	g.ended = g.ended || ended
	g.c.notify()
}

// ReadThrough is the shard's readThrough as spooled and reported: taken
// before a read of the spool that then finds nothing, every entry at or
// before it has been applied.
func (g *ShardGate) ReadThrough() bson.Timestamp {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	if g.ended {
		return tsMax
	}
	return g.through
}

// Drained records that a read of the spool after rt = readThrough() found
// nothing: everything at or before rt is applied.
func (g *ShardGate) Drained(rt bson.Timestamp) {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	g.scanned = maxTS(g.scanned, rt)
	if g.done.Before(rt) {
		g.done = rt
		g.c.notify()
	}
}

// Applied records that every entry up to last (the last of a batch that
// Admit let through) is applied; a DDL entry among them is no longer
// pending.
func (g *ShardGate) Applied(last bson.Timestamp) {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	g.done = maxTS(g.done, last)
	n := 0
	for n < len(g.pending) && !last.Before(g.pending[n]) {
		n++
	}
	g.pending = g.pending[n:]
	g.c.notify()
}

// Admit returns how many leading entries of es the applier may apply now,
// at least one, waiting (woken by the Cluster, polling as a backstop) until
// it may: a run of data entries at or below the limit, or a DDL entry alone
// once its barrier is passed. It returns 0 and ctx's error when ctx ends.
func (g *ShardGate) Admit(ctx context.Context, es []spool.Entry) (int, error) {
	c := g.c
	c.mu.Lock()
	ddl := g.scan(es)
	for {
		n, by, why := g.admissible(es, ddl)
		if n > 0 {
			if !g.waitSince.IsZero() {
				g.waitSince, g.waitFor = time.Time{}, ""
			}
			c.mu.Unlock()
			return n, nil
		}
		// Everything before es[0] is applied: other shards' barriers may
		// pass it.
		if d := prevTS(es[0].TS); g.done.Before(d) {
			g.done = d
			c.notify()
		}
		now := time.Now()
		if g.waitSince.IsZero() {
			g.waitSince, g.warned = now, now
		}
		g.waitFor = by.name + ": " + why
		if now.Sub(g.warned) >= gateWarn {
			g.warned = now
			g.log.WithFields(logrus.Fields{"ts": oplog.FormatTS(es[0].TS), "waiting_on": by.name, "reason": why,
				"waiting_s": int64(now.Sub(g.waitSince).Seconds()), "their_state": by.stateLocked()}).
				Warn("cross-shard order: the applier waits for another shard")
		}
		changed := c.changed
		c.mu.Unlock()
		t := time.NewTimer(gatePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
	}
}

// admissible is Admit's decision (c.mu is held): how many entries may go,
// else the shard that holds them and why.
func (g *ShardGate) admissible(es []spool.Entry, ddl int) (int, *ShardGate, string) {
	c := g.c
	if ddl == 0 {
		ok, by := c.barrier(g, es[0].TS)
		if ok {
			return 1, nil, ""
		}
		why := "its applier has not applied everything before this DDL (done " + oplog.FormatTS(by.done) + ")"
		if !by.done.Before(prevTS(es[0].TS)) {
			why = "its copy of the same DDL orders first"
		}
		return 0, by, "DDL at " + oplog.FormatTS(es[0].TS) + " waits: " + why
	}
	data := es
	if ddl > 0 {
		data = es[:ddl]
	}
	lim, by, why := c.limit(g)
	n := 0
	for n < len(data) && !lim.Before(data[n].TS) {
		n++
	}
	if n > 0 {
		return n, nil, ""
	}
	var b strings.Builder
	b.WriteString(why)
	b.WriteString(" ")
	b.WriteString(oplog.FormatTS(lim))
	return 0, by, b.String()
}

// scan registers es's DDL entries as pending and records how far the
// applier has read; it returns the index of the first DDL entry, or -1.
// Called under c.mu.
func (g *ShardGate) scan(es []spool.Entry) int {
	ddl := -1
	for i := range es {
		if g.c.keys != nil && oplog.ShardCollectionNoop(es[i].Raw) {
			// The source sharded a collection: the destination may be
			// sharded too by now (by an operator, or by the applier of
			// the shard that logged it).
			g.c.keys.Invalidate()
		}
		if isDDL(es[i].Raw) {
			g.addPending(es[i].TS)
			if ddl < 0 {
				ddl = i
			}
		}
	}
	g.scanned = maxTS(g.scanned, es[len(es)-1].TS)
	return ddl
}

// stateLocked describes g for a log line: what its readThrough rests on.
// Called under c.mu.
func (g *ShardGate) stateLocked() string {
	idle := "none"
	if !g.idleAt.IsZero() {
		idle = fmt.Sprintf("%s ago (opened %s ago, everything read spooled: %v)", time.Since(g.idleAt).Round(time.Millisecond),
			time.Since(g.idleOpened).Round(time.Millisecond), g.idleSpooled)
	}
	g.clk.mu.Lock()
	clock := "never measured"
	switch {
	case g.clock == nil || g.clk.off:
		clock = "off"
	case !g.clk.at.IsZero():
		clock = fmt.Sprintf("offset %s, measured %s ago", g.clk.offset, time.Since(g.clk.at).Round(time.Second))
	}
	g.clk.mu.Unlock()
	return fmt.Sprintf("through %s, scanned %s, cap %s, known %v, done %s, last idle report %s, clock %s",
		oplog.FormatTS(g.through), oplog.FormatTS(g.scanned), oplog.FormatTS(g.capTS), g.known, oplog.FormatTS(g.done), idle, clock)
}
