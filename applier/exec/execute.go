package exec

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Executor sends ops to the destination: writes hash-partitioned over
// Workers, each worker in oplog order with write commands of at most
// BulkSize statements; barriers alone after everything before them is
// acknowledged.
type Executor struct {
	Client *mongo.Client
	// WriteConcern is sent with every write (nil: the server's default);
	// the driver does not add the client's to a raw command.
	WriteConcern *writeconcern.WriteConcern
	Workers      int
	BulkSize     int
	Log          logrus.FieldLogger
	Rec          *status.Recorder
	// Mark, if set, records progress around each barrier: before it runs,
	// that every entry before seq is applied (through false); after the
	// last op of its entry, that seq is (through true). A crash after a
	// rename then never replays the batch's earlier writes under the
	// collection's old name.
	Mark func(seq uint64, through bool) error
	// Window, if set, tells which entries may meet a destination newer
	// than themselves (the catch-up after the copy, a replay after a
	// restart); unique conflicts are resolved by rule only there. Nil:
	// every entry may.
	Window func(seq uint64, ts bson.Timestamp) bool
	// Deferred keeps the work such resolutions leave (nil: memory only).
	Deferred DeferredStore
	// Keys, for a mongos destination, are its shard keys: statements on a
	// collection sharded on more than _id carry the key (sharded.go).
	// Nil: statements go by _id alone.
	Keys *sharding.ShardKeys
	// RoutingRetry bounds the retries of mongos routing errors
	// (applier.routing_retry, routing.go); zero: 5 minutes.
	RoutingRetry time.Duration

	deferred       []store.Deferred
	deferredLoaded bool

	once  sync.Once
	wc    []byte // the writeConcern element of every write command
	wcErr error
	hash  partitioner
	parts [][]Op
	// cappedColls: writes to these go to one worker (capped.go).
	cappedColls cappedColls
	// cmdCtx, during Apply, is the context write commands are sent with:
	// it ends commandGrace after Apply's own (see Apply).
	cmdCtx   context.Context
	builders []wirecmd.Builder // one per worker, reused
	// runStopped, if set (a test's seam), is called when a partition's
	// failure has stopped the other partitions of a run.
	runStopped func()
	// plainSeam, if set (a test's seam), sends by _id in place of
	// sendPlain: it plays a mongos's answers.
	plainSeam func(ctx context.Context, b *wirecmd.Builder, ops []Op) error
}

// mark records progress around a barrier (see Executor.Mark).
func (x *Executor) mark(seq uint64, through bool) error {
	if x.Mark == nil {
		return nil
	}
	return x.Mark(seq, through)
}

// commandGrace is how long a write command already sent may still take
// once Apply's context has ended.
const commandGrace = 10 * time.Second

// Apply runs ops in order semantics: per-document order, barriers alone.
//
// When ctx ends (a stop), no new write command or barrier is begun, and
// one already sent is waited for (at most commandGrace) rather than
// abandoned: the server would go on applying it, possibly after the next
// run has begun to replay the same entries, putting documents back into
// older states. A barrier of several commands (drop then rename,
// enableSharding then shardCollection) finishes its steps within the
// grace.
func (x *Executor) Apply(ctx context.Context, ops []Op) error {
	x.once.Do(func() { x.wc, x.wcErr = wirecmd.WriteConcern(x.WriteConcern) })
	if x.wcErr != nil {
		return x.wcErr
	}
	cmdCtx, release := retry.Grace(ctx, commandGrace)
	defer release()
	x.cmdCtx = cmdCtx
	defer func() { x.cmdCtx = nil }()
	start := 0
	for i, op := range ops {
		if !op.IsBarrier() {
			continue
		}
		if err := x.writes(ctx, ops[start:i]); err != nil {
			return err
		}
		if err := x.mark(op.Seq, false); err != nil {
			return err
		}
		err := x.retry(ctx, op.NS, "command "+op.Desc, func() error { return op.Cmd(x.commandCtx(ctx), x.Client) })
		if x.Keys != nil {
			x.Keys.Invalidate() // a DDL may drop, create, rename or shard a collection
		}
		x.cappedColls.forget()
		var rn *RenamedError
		if errors.As(err, &rn) {
			if merr := x.moveDeferred(rn.From, rn.To); merr != nil {
				return merr
			}
			err = rn.Err
		}
		if errors.Is(err, ErrAlreadyApplied) {
			x.noop(&ops[i], ReasonDDLDone, logrus.Fields{"command": op.Desc, "server": err.Error()})
			err = nil
		}
		var ic *IndexConflictError
		if errors.As(err, &ic) && x.inWindow(&ops[i]) {
			err = x.deferIndex(ctx, &ops[i], ic.Build, ic.Err)
		}
		if err != nil {
			return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: fmt.Errorf("%s: %w", op.Desc, err)}
		}
		if i+1 == len(ops) || ops[i+1].Seq != op.Seq {
			if err := x.mark(op.Seq, true); err != nil {
				return err
			}
		}
		start = i + 1
	}
	return x.writes(ctx, ops[start:])
}

// split distributes document writes over the workers, keeping their order.
// The slices are reused by the next call.
func (x *Executor) split(ops []Op) [][]Op {
	if len(x.parts) != x.Workers {
		x.parts = make([][]Op, x.Workers)
		x.builders = make([]wirecmd.Builder, x.Workers)
		for i := range x.builders {
			x.builders[i].Bypass = true
		}
	}
	for i := range x.parts {
		x.parts[i] = x.parts[i][:0]
	}
	for _, op := range ops {
		var p int
		if x.cappedColls.capped(op.NS) {
			p = x.hash.of(op.NS, bson.RawValue{}, x.Workers)
		} else {
			p = x.hash.of(op.NS, op.ID, x.Workers)
		}
		x.parts[p] = append(x.parts[p], op)
	}
	return x.parts
}

// Build builds the write commands Apply would send for ops (document
// writes only) without sending them, and returns their total length: the
// executor's CPU work short of the network, which the applier's CPU-path
// benchmark measures. The builders are Apply's own, reused.
func (x *Executor) Build(ops []Op) int {
	n := 0
	for i, part := range x.split(ops) {
		for len(part) > 0 {
			k := runLen(part, x.BulkSize)
			_, coll := splitNS(part[0].NS)
			n += len(build(&x.builders[i], coll, part[:k], nil, nil))
			part = part[k:]
		}
	}
	return n
}

// writes applies a run of document writes in parallel partitions.
//
// A partition's failure stops the others between commands, never inside
// one: a command whose context ends is abandoned by the client, not by the
// server, which may still apply it. The serial replay that follows a
// duplicate key then raced with the abandoned commands, and one that
// landed after it put a document back into an older state (a key holder
// deleted or moved off its key by the replay held it again), which no
// later entry mends. Every command of the parallel attempt is answered
// before this returns.
func (x *Executor) writes(ctx context.Context, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	// run ends when a partition fails: the others send nothing new and
	// stop retrying, while the command each has in flight goes on under
	// Apply's command context and is answered.
	if err := x.retry(ctx, ops[0].NS, "list capped collections", func() error { return x.learnCapped(ctx, ops) }); err != nil {
		return err
	}
	run, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	parts := x.split(ops)
	errs := make([]error, len(parts))
	for i, part := range parts {
		if len(part) == 0 {
			continue
		}
		b := &x.builders[i]
		wg.Go(func() {
			if errs[i] = x.partition(run, b, part); errs[i] != nil {
				stop(errStopped)
				if x.runStopped != nil {
					x.runStopped()
				}
			}
		})
	}
	wg.Wait()
	var err error
	for _, e := range errs {
		// The lowest-numbered partition's own failure, not a stop it
		// caused (a stopped partition returns the run's context error).
		if e != nil && (err == nil || errors.Is(err, context.Canceled)) {
			err = e
		}
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // stopped: a duplicate key met on the way is not replayed now
	}
	if err != nil && isDupKey(err) {
		// A secondary unique index may conflict only transiently across
		// partitions: replay the run serially, in oplog order.
		x.Log.WithError(err).Info("duplicate key: re-applying the batch serially in oplog order")
		x.Rec.Conflict()
		return x.serial(ctx, ops)
	}
	return err
}

// commandCtx is the context a write command is sent with: Apply's
// command context, or ctx outside Apply.
func (x *Executor) commandCtx(ctx context.Context) context.Context {
	if x.cmdCtx != nil {
		return x.cmdCtx
	}
	return ctx
}

// errStopped is the cause of a run's end when one of its partitions
// failed.
var errStopped = errors.New("stopped: another partition of the run failed")

// partition sends one worker's ops in order, a command per run (runLen),
// until run ends (retry.Do starts no attempt after that).
func (x *Executor) partition(run context.Context, b *wirecmd.Builder, ops []Op) error {
	for len(ops) > 0 {
		n := runLen(ops, x.BulkSize)
		if err := x.send(run, b, ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// serial applies ops one command each, in oplog order. A unique conflict
// that remains in oplog order is resolved by rule (resolveUnique).
func (x *Executor) serial(ctx context.Context, ops []Op) error {
	b := wirecmd.Builder{Bypass: true}
	for i := range ops {
		err := x.send(ctx, &b, ops[i:i+1])
		if err != nil && isDupKey(err) && ctx.Err() == nil {
			// The parallel attempt may have applied any later op of
			// this run: every op here may meet a newer state, whose
			// resolving entry lies later in the run. A conflict no
			// later entry resolves is left recorded, and the applier
			// stops on it once past every window (Settle).
			err = x.resolveUnique(ctx, &ops[i], err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// send applies one run of ops as one write command, retrying what the
// server recovers from. An insert run is unordered; the documents that
// already exist (a replay) are then replaced, in oplog order. An update
// statement whose path is not viable in the current document is applied
// by rule (reapplyNonViable), and the rest of the run is sent again.
func (x *Executor) send(ctx context.Context, b *wirecmd.Builder, ops []Op) error {
	if x.Keys != nil {
		return x.sendKeyed(ctx, b, ops) // sharded.go
	}
	return x.sendPlain(ctx, b, ops)
}

// sendPlain is send by _id alone.
func (x *Executor) sendPlain(ctx context.Context, b *wirecmd.Builder, ops []Op) error {
	dbName, coll := splitNS(ops[0].NS)
	db := x.Client.Database(dbName)
	var dups []Op
	stuck, stuckErr := -1, error(nil)
	err := x.retry(ctx, ops[0].NS, "write to "+ops[0].NS, func() error {
		var docs []bson.Raw
		if ops[0].Fetch != nil { // alone in its run
			doc, err := x.fetch(ctx, &ops[0])
			if err != nil || doc == nil {
				return err
			}
			docs = []bson.Raw{doc}
		}
		cmd := build(b, coll, ops, docs, x.wc)
		err := db.RunCommand(x.commandCtx(ctx), cmd).Err()
		dups, stuck = dups[:0], -1
		if err == nil {
			return nil
		}
		switch classOf(ops[0].Kind) {
		case classUpdate:
			if i, ok := nonViableAt(err); ok && i < len(ops) {
				stuck, stuckErr = i, err
				return nil
			}
			return err
		case classInsert:
			var we mongo.WriteException
			if !errors.As(err, &we) || we.WriteConcernError != nil || len(we.WriteErrors) == 0 {
				return err
			}
			for _, e := range we.WriteErrors {
				if e.Code != 11000 || e.Index >= len(ops) {
					return err
				}
				dups = append(dups, ops[e.Index])
			}
			return nil
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		var ee *EntryError
		if errors.As(err, &ee) {
			return err
		}
		// Name the entry the server complained about.
		op := ops[0]
		var we mongo.WriteException
		if errors.As(err, &we) && len(we.WriteErrors) > 0 && we.WriteErrors[0].Index < len(ops) {
			op = ops[we.WriteErrors[0].Index]
		}
		return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
	}
	if stuck >= 0 {
		if err := x.reapplyNonViable(ctx, &ops[stuck], stuckErr); err != nil {
			return err
		}
		if rest := ops[stuck+1:]; len(rest) > 0 {
			return x.send(ctx, b, rest)
		}
		return nil
	}
	if len(dups) == 0 {
		return nil
	}
	sort.Slice(dups, func(i, j int) bool { return dups[i].Seq < dups[j].Seq })
	for i := range dups {
		dups[i].Kind = KindReplace
	}
	return x.send(ctx, b, dups)
}

// fetch computes a fetching op's replacement from the current document
// (read from the primary at majority; a missing document is {_id}).
func (x *Executor) fetch(ctx context.Context, op *Op) (bson.Raw, error) {
	cur, err := x.current(ctx, op)
	if err != nil {
		return nil, err
	}
	doc, err := op.Fetch(cur)
	if err != nil {
		return nil, &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
	}
	return doc, nil
}

func splitNS(ns string) (string, string) {
	for i := 0; i < len(ns); i++ {
		if ns[i] == '.' {
			return ns[:i], ns[i+1:]
		}
	}
	return ns, ""
}
