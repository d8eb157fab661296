package gate

import (
	"context"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/ddl"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ShardGate is one shard's handle on a Cluster. The shard's pipeline wires
// it in three places:
//
//   - reader.Reader.W = gate.Appender(w): every append registers its DDL
//     entries as pending and moves readThrough; MarkEnded (a file source at
//     its end) makes readThrough unbounded;
//   - reader.OplogSource.Idle = gate, with gate.Next set to the reporter
//     that was there (it is called after the gate, its answer returned);
//   - applier.Applier.Gate = gate.
type ShardGate struct {
	// Next, if set, hears every idle report after the gate (a chain).
	Next reader.IdleReporter

	c     *Cluster
	name  string
	idx   int
	clock Clock
	log   logrus.FieldLogger

	// Under c.mu:
	through bson.Timestamp   // readThrough, as spooled and reported
	ended   bool             // the spool is ended: nothing more comes
	known   bool             // every DDL in the spool is registered (but capTS)
	capTS   bson.Timestamp   // entries up to it were spooled before the gate
	scanned bson.Timestamp   // the newest ts the applier has read
	pending []bson.Timestamp // DDL entries spooled, not yet applied (ascending)
	done    bson.Timestamp   // the applier applied every entry at or before it

	// the newest idle report, for the log
	idleAt, idleOpened time.Time
	idleSpooled        bool

	waitSince time.Time
	waitFor   string
	warned    time.Time

	clk clockState // clock.go
}

// Name is the shard's name.
func (g *ShardGate) Name() string { return g.name }

// Appender wraps the shard's spool writer: after each append it registers
// the batch (see ShardGate). Wrap it before the reader runs; entries the
// spool held before are registered as the applier reads them, and until it
// has, other shards do not pass them.
func (g *ShardGate) Appender(w reader.Appender) reader.Appender {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	if e, ok := w.Last(); ok {
		g.capTS = maxTS(g.capTS, e.TS)
	}
	g.known = true
	g.c.notify()
	return gatedAppender{Appender: w, g: g}
}

type gatedAppender struct {
	reader.Appender
	g *ShardGate
}

func (a gatedAppender) Append(ctx context.Context, raws []bson.Raw) (uint64, uint64, error) {
	first, last, err := a.Appender.Append(ctx, raws)
	if err == nil {
		a.g.Spooled(raws)
	}
	return first, last, err
}

func (a gatedAppender) MarkEnded() error {
	if err := a.Appender.MarkEnded(); err != nil {
		return err
	}
	a.g.Ended()
	return nil
}

// Spooled registers entries just appended to the shard's spool, in order
// (Appender calls it): DDL entries become pending, then readThrough moves
// to the newest ts, under one lock, so no other shard passes a DDL before
// it is pending.
func (g *ShardGate) Spooled(raws []bson.Raw) {
	if len(raws) == 0 {
		return
	}
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	for _, raw := range raws {
		ts := rawTS(raw)
		if isDDL(raw) {
			g.addPending(ts)
		}
		g.through = maxTS(g.through, ts)
	}
	g.c.notify()
}

// Ended says the shard's spool is ended (a file source read to its end):
// nothing more will be spooled.
func (g *ShardGate) Ended() {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	g.ended = true
	g.c.notify()
}

// Idle is reader.IdleReporter: a report whose finding about the spool is
// unknown moves nothing; it is passed on to Next. A reader.Reader calls
// IdleSpooled instead.
func (g *ShardGate) Idle(opened time.Time, through bson.Timestamp) bool {
	return g.IdleSpooled(opened, through, false)
}

// IdleSpooled is reader.SpoolAwareReporter: a cursor whose query began at
// opened has nothing more to give, through is the newest ts read, and
// spooled says whether everything read was in the spool then. Only then
// readThrough moves: to through, and by the idle clock rule (clock.go).
// The report is passed on to Next. It asks for the cursor to be re-opened
// (as Next may) when the clock rule is in use and the cursor is older than
// clockReopen: the rule bounds only what was written after the cursor's
// query began, so an old cursor that keeps answering empty would hold the
// other shards at its opening time.
func (g *ShardGate) IdleSpooled(opened time.Time, through bson.Timestamp, spooled bool) bool {
	g.c.mu.Lock()
	g.idleAt, g.idleOpened, g.idleSpooled = time.Now(), opened, spooled
	g.c.mu.Unlock()
	reopen := false
	if spooled {
		bound := g.clockBound(opened)
		reopen = g.clockOn() && time.Since(opened) > clockReopen
		g.c.mu.Lock()
		if rt := maxTS(through, bound); g.through.Before(rt) {
			g.through = rt
			g.c.notify()
		}
		g.c.mu.Unlock()
	}
	switch n := g.Next.(type) {
	case nil:
		return reopen
	case reader.SpoolAwareReporter:
		return n.IdleSpooled(opened, through, spooled) || reopen
	default:
		return n.Idle(opened, through) || reopen
	}
}

// clockReopen is how old a cursor may be before an idle report under the
// clock rule asks for a fresh one.
const clockReopen = time.Second

// clockOn reports whether the idle clock rule may apply to this shard.
func (g *ShardGate) clockOn() bool {
	if g.clock == nil {
		return false
	}
	g.clk.mu.Lock()
	defer g.clk.mu.Unlock()
	return !g.clk.off
}

// rawTS is an entry's ts.
func rawTS(raw bson.Raw) bson.Timestamp {
	t, i, _ := raw.Lookup("ts").TimestampOK()
	return bson.Timestamp{T: t, I: i}
}

// isDDL reports whether an entry changes collections or indexes rather than
// documents: a command other than a transaction's, or an applyOps holding
// one. Commands that change nothing on a destination (ddl.ChangesNothing:
// index build starts, dbCheck's entries, shards' catalog records) are no
// barrier: dbCheck alone logs one entry per batch it checks.
//
// A command logged with fromMigrate is a barrier too, though its shard
// applies nothing for it (applier/translate/migrated.go): resharding,
// and 8.0's moveCollection and unshardCollection built on it, move
// documents between shards and end on each recipient with a fromMigrate
// rename of its temporary collection over the original, after every
// donor's last write to it. Admitted only once every other shard has
// applied everything before it, that rename keeps a recipient's writes to
// a moved document behind the donor's earlier ones.
func isDDL(raw bson.Raw) bool {
	if op, _ := raw.Lookup("op").StringValueOK(); op != "c" {
		return false
	}
	o, _ := raw.Lookup("o").DocumentOK()
	el, err := o.IndexErr(0)
	if err != nil {
		return false
	}
	if ddl.ChangesNothing(el.Key()) {
		return false
	}
	switch el.Key() {
	case "commitTransaction", "abortTransaction":
		return false
	case "applyOps":
		ops, _ := el.Value().ArrayOK()
		vals, _ := ops.Values()
		for _, v := range vals {
			if d, ok := v.DocumentOK(); ok && isDDL(bson.Raw(d)) {
				return true
			}
		}
		return false
	}
	return true
}

// ShareKeys returns the one ShardKeys every shard's applier of the cluster
// uses (exec.Executor.Keys), k if it is the first: a collection one shard's
// applier shards on the destination (sync.shard_collections) is then
// known to the others at their next write, not after their own next
// barrier. Nil gate: k itself (a replica set source).
func (g *ShardGate) ShareKeys(k *sharding.ShardKeys) *sharding.ShardKeys {
	if g == nil || k == nil {
		return k
	}
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	if g.c.keys == nil {
		g.c.keys = k
	}
	return g.c.keys
}
