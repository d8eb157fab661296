// Package applier drains the spool into the destination: each batch of
// oplog entries is translated (package translate) into idempotent writes
// and commands, which the executor (package exec) applies, writes
// hash-partitioned by (namespace, _id) over workers and commands alone as
// barriers; the checkpoint moves only after the destination acknowledged
// everything before it. A sharded source's appliers are ordered by a
// cross-shard gate (package gate).
package applier

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/failpoint"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Applier drains a spool into the destination.
type Applier struct {
	Spool      *spool.Reader
	SpoolDir   string
	Store      *store.Store
	Translator *translate.Translator
	Exec       *exec.Executor
	BatchOps   int
	BatchBytes int
	Retention  time.Duration
	// MaxBytes is the spool's cap (spool.max_bytes): at the cap, applied
	// segments are removed even inside Retention, or the reader would stall.
	MaxBytes int64
	// ExitWhenDrained stops with nil once an ended spool is fully applied.
	ExitWhenDrained bool
	// Wake, if set, signals new entries: an in-process reader's appends and
	// seals (Spool follows its writer).
	Wake <-chan struct{}
	// ConsistentAt, if set, is the initial copy's end: the destination is
	// consistent once the checkpoint reaches it (logged once).
	ConsistentAt bson.Timestamp
	// Shard names the shard of a sharded source this applier replays: the
	// destination is consistent only once every shard's applier has
	// passed its copy's end, which the sharded runner logs.
	Shard       string
	consistent  bool
	Rec         *status.Recorder
	LogInterval time.Duration
	Log         logrus.FieldLogger
	// Gate, if set, orders this applier with the other shards' of a
	// sharded source (package gate): data entries wait for the Cluster's
	// limit, DDL entries for its barrier. Nil: a replica set.
	Gate *gate.ShardGate

	// The two appliers of an online addition (package pipeline, add.go)
	// share one spool; each sets some of these. Unset, none applies.
	//
	// Cursor is where the applier records its position; nil: Store's
	// checkpoint.
	Cursor Cursor
	// Through, if set, bounds what is applied: no entry past seq; once
	// final, Run returns nil when every entry through seq is applied.
	Through func() (seq uint64, final bool)
	// Join, once closed, makes Run return nil after the batch it applies.
	Join <-chan struct{}
	// Keep, if set, is the lowest seq another applier of this spool still
	// needs: no segment holding it or a later one is removed.
	Keep func() uint64
	// Partial says the destination is not consistent at any position of
	// this applier (namespaces added to the selection are being copied).
	Partial bool
	// ReappliedThrough: entries up to this seq may have been applied
	// before, by another applier of the same process (in its window).
	ReappliedThrough uint64
	pos, posTS       atomic.Uint64 // lastSeq and lastTS (T<<32|I), for Position

	applied int64
	batch   []spool.Entry // the batch being applied, for Exec.Mark (markBatch)
	pend    []uint64      // per entry of the batch: PendingSince after it
	// ops is the previous batch's ops, its array reused by the next: grown
	// anew, a batch of 10,000 entries allocated more for its ops than the
	// spool for its entries (an exec.Op is ~140 bytes, appended with doubling).
	ops     []exec.Op
	horizon uint64 // the last seq spooled when this run started
	// openAtStart: the first seq of a segment open when this run started;
	// the horizon reaches its end once it is sealed (sealedHorizon).
	openAtStart uint64
	// copyRunning: a copy pinned T0 and has not recorded its end.
	copyRunning bool
	lastSeq     uint64 // the last entry applied
	lastTS      bson.Timestamp
	start       store.Checkpoint // the checkpoint this run began at (appliedBefore)
	// readFromKnown: this run has recorded where reading began, if it had to.
	readFromKnown bool
}

// Cursor records an applier's position.
type Cursor interface {
	Checkpoint() (store.Checkpoint, error)
	SetCheckpoint(store.Checkpoint) error
}

// Position is the seq of the last entry applied (or of the checkpoint the
// run began at); safe to call while Run runs.
func (a *Applier) Position() uint64 { return a.pos.Load() }

// PositionTS is the ts of Position's entry.
func (a *Applier) PositionTS() bson.Timestamp {
	v := a.posTS.Load()
	return bson.Timestamp{T: uint32(v >> 32), I: uint32(v)}
}

// publish makes seq (at ts) the applier's Position.
func (a *Applier) publish(seq uint64, ts bson.Timestamp) {
	a.posTS.Store(uint64(ts.T)<<32 | uint64(ts.I))
	a.pos.Store(seq)
}

// Run applies until ctx ends (then it returns nil after the current batch),
// the spool is drained (ExitWhenDrained), Join or Through ends it, or an
// error stops it.
func (a *Applier) Run(ctx context.Context) error {
	if a.Cursor == nil {
		a.Cursor = a.Store
	}
	ck, err := a.Cursor.Checkpoint()
	if err != nil {
		return err
	}
	next := ck.Seq + 1
	if l, err := spool.List(a.SpoolDir); err == nil {
		if len(l.Sealed) > 0 {
			if ck.Seq == 0 {
				next = l.Sealed[0].First
			}
			// A run before this one may have applied anything spooled so
			// far: up to here, entries may meet a newer destination.
			a.horizon = l.Sealed[len(l.Sealed)-1].Last
		}
		a.horizon = max(a.horizon, a.ReappliedThrough)
		if l.Open != nil && !a.Spool.Following() {
			// A segment left open by a sync process that died may hold
			// entries its applier applied (it followed the open segment):
			// they count as spooled before this run, to the segment's end,
			// known once the writer seals it (before this reader can read
			// it). A following reader started after its writer sealed any
			// such segment: the open one is this run's.
			a.openAtStart = l.Open.First
		}
	}
	// The state file is this process's alone: the copy's stage cannot
	// change under a running applier.
	a.copyRunning = !a.Store.T0().IsZero() && a.Store.CopyEnd().IsZero()
	// No copy, or an earlier run passed its end: consistent already.
	if a.Partial {
		a.consistent = true // never logged nor recorded (checkpoint)
	} else if (a.ConsistentAt.IsZero() && !a.copyRunning) || (!a.ConsistentAt.IsZero() && !ck.TS.Before(a.ConsistentAt)) {
		a.consistent = true
		a.Rec.Consistent()
	}
	if a.Exec.Window == nil {
		a.Exec.Window = a.inWindow
	}
	if a.Exec.Deferred == nil {
		a.Exec.Deferred = a.Store
	}
	// Configured once, not per batch: Mark records around the barriers of
	// whichever batch is being applied.
	a.Exec.Mark = a.markBatch
	a.lastSeq, a.lastTS, a.start = ck.Seq, ck.TS, ck
	a.publish(ck.Seq, ck.TS)
	a.Rec.Positions(0, bson.Timestamp{}, ck.Seq, ck.TS, true)
	if a.Gate != nil {
		st, err := spool.ReadStat(a.SpoolDir)
		if err != nil {
			return fmt.Errorf("read the spool for the cross-shard gate: %w", err)
		}
		a.Gate.Start(ck.TS, st.NewestTS, st.Ended)
	}
	a.Log.WithFields(logrus.Fields{"seq": next, "ts": oplog.FormatTS(ck.TS)}).Info("applier starting")
	lastLog, lastCount := time.Now(), int64(0)
	for {
		if ctx.Err() != nil {
			a.Log.WithField("applied", a.applied).Info("stopped")
			return nil
		}
		if a.joined() {
			a.Log.WithFields(logrus.Fields{"applied": a.applied, "seq": a.lastSeq}).Info("stopped to join")
			return nil
		}
		limit, final := ^uint64(0), false
		if a.Through != nil {
			if limit, final = a.Through(); next > limit {
				if final {
					a.Log.WithFields(logrus.Fields{"applied": a.applied, "seq": a.lastSeq}).Info("applied through its bound")
					return nil
				}
				if err := a.settle(ctx, a.lastSeq, a.lastTS); err != nil {
					return err
				}
				a.wait(ctx)
				continue
			}
		}
		var through bson.Timestamp
		if a.Gate != nil {
			through = a.Gate.ReadThrough()
		}
		es, err := a.Spool.Read(ctx, next, a.BatchOps, a.BatchBytes)
		if errors.Is(err, context.Canceled) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read spool at seq %d: %w", next, err)
		}
		if n := len(es); n > 0 && es[n-1].Seq > limit {
			es = es[:limit-next+1] // seqs are consecutive
		}
		if len(es) > 0 && a.openAtStart != 0 && es[len(es)-1].Seq >= a.openAtStart {
			a.sealedHorizon()
		}
		if len(es) == 0 {
			if a.Gate != nil {
				a.Gate.Drained(through)
			}
			if err := a.settle(ctx, a.lastSeq, a.lastTS); err != nil {
				return err
			}
			if done, err := a.drained(next); err != nil || done {
				return err
			}
			a.wait(ctx)
			continue
		}
		if a.Gate != nil {
			n, err := a.Gate.Admit(ctx, es)
			if err != nil {
				continue // ctx ended
			}
			es = es[:n]
		}
		if !a.readFromKnown {
			if err := a.recordReadFrom(es[0].TS); err != nil {
				return err
			}
		}
		if err := a.apply(ctx, es); err != nil {
			if ctx.Err() != nil {
				return nil // interrupted mid-batch: the checkpoint did not move
			}
			return err
		}
		if a.Gate != nil {
			a.Gate.Applied(es[len(es)-1].TS)
		}
		next = es[len(es)-1].Seq + 1
		if time.Since(lastLog) >= a.LogInterval {
			a.logProgress(es[len(es)-1], float64(a.applied-lastCount)/time.Since(lastLog).Seconds())
			lastLog, lastCount = time.Now(), a.applied
		}
		// Nothing keeps the batch's entries or ops past here (what
		// outlives it, such as a transaction's ops before its commit, is
		// copied): the next batch reuses their memory.
		a.Spool.Release()
		a.Translator.Release()
	}
}

// apply translates and applies one batch, then moves the checkpoint. An
// entry that cannot be translated stops the applier after everything before
// it was applied and checkpointed; the entry stays in the spool.
func (a *Applier) apply(ctx context.Context, es []spool.Entry) error {
	prev := len(a.ops)
	ops := a.ops[:0]
	defer func() {
		// Ops the previous batch left past this one's end would keep its
		// documents reachable: cleared. This batch's stay until the next
		// overwrites them (clearing them all cost 3 % of the CPU path).
		if n := len(ops); n < prev {
			clear(ops[n:prev])
		}
		a.ops = ops
	}()
	var badErr error
	pend := a.pend[:0]
	for i, e := range es {
		var err error
		if ops, err = a.Translator.AppendOps(ops, e.Seq, e.TS, e.Raw); err != nil && !a.olderThanCopy(err) && !a.appliedBefore(err, a.start) {
			es, badErr = es[:i], err
			break
		}
		pend = append(pend, a.Translator.PendingSince())
	}
	a.pend = pend
	if len(es) == 0 {
		return badErr
	}
	a.batch = es
	defer func() { a.batch = nil }()
	start := time.Now()
	if err := a.Exec.Apply(ctx, ops); err != nil {
		return err
	}
	last := es[len(es)-1]
	if err := a.checkpoint(es, start); err != nil {
		return err
	}
	a.lastSeq, a.lastTS = last.Seq, last.TS
	a.publish(last.Seq, last.TS)
	if err := a.settle(ctx, last.Seq, last.TS); err != nil {
		return err
	}
	return badErr
}

// joined reports whether Join was closed.
func (a *Applier) joined() bool {
	if a.Join == nil {
		return false
	}
	select {
	case <-a.Join:
		return true
	default:
		return false
	}
}

// settle retries the work replay windows deferred, once every entry up to
// seq (at ts) is applied; what is left once the windows are over is an
// error naming it.
func (a *Applier) settle(ctx context.Context, seq uint64, ts bson.Timestamp) error {
	over := a.windowOver(seq, ts)
	pending, err := a.Exec.Settle(ctx, over)
	if err != nil {
		return err
	}
	if over && len(pending) > 0 {
		return &exec.UnresolvedError{Items: pending}
	}
	return nil
}

// windowOver reports whether, with every entry up to seq (at ts) applied,
// no entry still to come can meet a destination newer than itself.
func (a *Applier) windowOver(seq uint64, ts bson.Timestamp) bool {
	if seq < a.horizon || a.openAtStart != 0 {
		return false
	}
	if !a.ConsistentAt.IsZero() {
		return !ts.Before(a.ConsistentAt)
	}
	return !a.copyRunning
}

// inWindow reports whether an entry may meet a destination newer than
// itself: it lies in the copy's catch-up window (up to copy_end, or the
// copy is still running) or was spooled before this run started (a run
// before it may have applied it).
func (a *Applier) inWindow(seq uint64, ts bson.Timestamp) bool {
	if seq <= a.horizon || (a.openAtStart != 0 && seq >= a.openAtStart) {
		return true
	}
	if !a.ConsistentAt.IsZero() {
		return !a.ConsistentAt.Before(ts)
	}
	return a.copyRunning
}

// mark records the checkpoint around a barrier of the batch es: through
// seq's entry (through) or up to the entry before it, never past the first
// entry of a transaction open at that point (pend[i]: PendingSince after
// es[i] was translated). Nothing is recorded before the batch's start.
func (a *Applier) mark(es []spool.Entry, pend []uint64, seq uint64, through bool) error {
	target := seq
	if !through {
		target = seq - 1
	}
	first := es[0].Seq
	if target < first || target-first >= uint64(len(es)) {
		return nil
	}
	if p := pend[target-first]; p != 0 && p <= target {
		if p-1 < first {
			return nil
		}
		target = p - 1
	}
	e := es[target-first]
	if err := a.Cursor.SetCheckpoint(store.Checkpoint{Seq: e.Seq, TS: e.TS}); err != nil {
		return fmt.Errorf("record checkpoint seq %d: %w", e.Seq, err)
	}
	return nil
}

// markBatch is Exec.Mark: mark on the batch being applied.
func (a *Applier) markBatch(seq uint64, through bool) error {
	return a.mark(a.batch, a.pend, seq, through)
}

// olderThanCopy reports whether err is an UnknownTxnError of an entry at or
// before the copy's T0, which needs nothing: the spool of an initial copy
// starts at the first entry of the oldest transaction open when T0 was
// pinned (copier.PinStart), so a transaction whose first entry precedes it
// was no longer open then, and had ended by T0; the copy, which reads after
// T0, holds its effects. Only its later entries reach the spool, all at or
// before T0. Such an entry is logged and counted; any other is an error.
func (a *Applier) olderThanCopy(err error) bool {
	var u *translate.UnknownTxnError
	if !errors.As(err, &u) {
		return false
	}
	t0 := a.Store.T0()
	if t0.IsZero() || t0.Before(u.TS) {
		return false
	}
	a.Rec.ReapplyNoop("transaction_before_spool")
	a.Log.WithFields(logrus.Fields{"seq": u.Seq, "ts": oplog.FormatTS(u.TS), "lsid": u.Lsid, "txnNumber": u.TxnNumber, "t0": oplog.FormatTS(t0)}).
		Info("an entry of a transaction begun before the spool's start and ended before T0: the copy holds its effects, nothing to apply")
	return true
}

// checkpoint records the position after es, kept below the first entry of
// any transaction whose commit has not been applied.
func (a *Applier) checkpoint(es []spool.Entry, start time.Time) error {
	a.applied += int64(len(es))
	// Never past the first entry of a transaction not yet applied.
	last := es[len(es)-1]
	ck := store.Checkpoint{Seq: last.Seq, TS: last.TS}
	if p := a.Translator.PendingSince(); p != 0 && p <= last.Seq {
		if p <= es[0].Seq {
			return nil
		}
		prev := es[p-es[0].Seq-1]
		ck = store.Checkpoint{Seq: prev.Seq, TS: prev.TS}
	}
	failpoint.Hit("applier-before-checkpoint") // writes acknowledged, position not recorded
	if err := a.Cursor.SetCheckpoint(ck); err != nil {
		return fmt.Errorf("record checkpoint seq %d: %w", ck.Seq, err)
	}
	if !a.consistent && !a.ConsistentAt.IsZero() && !ck.TS.Before(a.ConsistentAt) {
		a.consistent = true
		msg := "destination is consistent: the applier has passed the end of the initial copy"
		if a.Shard != "" {
			msg = "this shard's applier has passed the end of its initial copy"
		}
		a.Log.WithFields(logrus.Fields{"ts": oplog.FormatTS(ck.TS), "copy_end": oplog.FormatTS(a.ConsistentAt)}).Info(msg)
	}
	if a.consistent && !a.Partial {
		a.Rec.Consistent()
	}
	a.Rec.Applied(len(es), ck.Seq, ck.TS, entryWall(es, ck.Seq), time.Since(start))
	keepFrom := ck.Seq + 1
	if a.Keep != nil {
		keepFrom = min(keepFrom, a.Keep())
	}
	if _, err := spool.Remove(a.SpoolDir, keepFrom, a.Retention); err != nil {
		a.Log.WithError(err).Warn("removing applied segments failed")
	}
	n := spoolBytes(a.SpoolDir)
	if a.MaxBytes > 0 && a.Retention > 0 && n >= a.MaxBytes {
		removed, err := spool.Remove(a.SpoolDir, keepFrom, 0)
		if err != nil {
			a.Log.WithError(err).Warn("removing applied segments failed")
		}
		if len(removed) > 0 {
			a.Log.WithFields(logrus.Fields{"segments": len(removed), "max_bytes": a.MaxBytes}).
				Warn("spool at spool.max_bytes: applied segments removed before their retention ended")
			n = spoolBytes(a.SpoolDir)
		}
	}
	a.Rec.SpoolBytes(n)
	return nil
}

// entryWall is the wall time the source logged for seq (an entry of es),
// zero when it logged none.
func entryWall(es []spool.Entry, seq uint64) time.Time {
	if len(es) == 0 || seq < es[0].Seq || seq > es[len(es)-1].Seq {
		return time.Time{}
	}
	if w, ok := es[seq-es[0].Seq].Raw.Lookup("wall").DateTimeOK(); ok {
		return time.UnixMilli(w)
	}
	return time.Time{}
}

// spoolBytes is the spool's size on disk.
func spoolBytes(dir string) int64 {
	l, err := spool.List(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, s := range l.Sealed {
		n += s.Size
	}
	if l.Open != nil {
		n += l.Open.Size
	}
	return n
}

// drained reports whether an ended spool has been applied to its end.
func (a *Applier) drained(next uint64) (bool, error) {
	if !a.ExitWhenDrained {
		return false, nil
	}
	end, ended, err := spool.Ended(a.SpoolDir)
	if err != nil || !ended || next <= end {
		return false, err
	}
	if p := a.Translator.PendingSince(); p != 0 {
		a.Log.WithField("seq", p).Warn("the spool ended inside a transaction that never committed: it is not applied")
	}
	a.Log.WithFields(logrus.Fields{"applied": a.applied, "last_seq": end}).Info("spool drained")
	return true, nil
}

// sealedHorizon moves the horizon to the end of the segment that was open
// when this run started, once a batch reaches into it: a reader that does
// not follow the writer reads only sealed segments, so it is sealed now.
func (a *Applier) sealedHorizon() {
	l, err := spool.List(a.SpoolDir)
	if err != nil {
		return // tried again with the next batch; the window stays open
	}
	for _, s := range l.Sealed {
		if s.First == a.openAtStart {
			a.horizon = max(a.horizon, s.Last)
			a.openAtStart = 0
			return
		}
	}
}

// Poll intervals of wait: with a wake signal (an in-process reader) the
// poll is only a backstop; across processes it is how new sealed segments
// are seen, so it is short (a directory listing), keeping the lag within
// seal_interval plus a few tens of milliseconds.
const (
	pollWoken = 100 * time.Millisecond
	pollAlone = 25 * time.Millisecond
)

// wait blocks until a wake signal, a poll interval (the backstop across
// processes), or ctx's end.
func (a *Applier) wait(ctx context.Context) {
	d := pollAlone
	if a.Wake != nil {
		d = pollWoken
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-a.Wake:
	case <-t.C:
	}
}

func (a *Applier) logProgress(last spool.Entry, rate float64) {
	f := logrus.Fields{"entries_per_s": int64(rate), "applied": a.applied, "seq": last.Seq, "ts": oplog.FormatTS(last.TS)}
	if lag, ok := a.Rec.Lag(); ok { // the one lag: status.Lag
		f["lag_s"] = lag.Round(time.Millisecond).Seconds()
	}
	a.Log.WithFields(f).Info("applier progress")
}

// Rewind moves the checkpoint back so that replay starts at the first
// retained entry at or after seq (seq > 0) or ts.
func Rewind(ctx context.Context, r *spool.Reader, st *store.Store, seq uint64, ts bson.Timestamp) (store.Checkpoint, error) {
	l, err := spool.List(r.Dir())
	if err != nil {
		return store.Checkpoint{}, err
	}
	if len(l.Sealed) == 0 {
		return store.Checkpoint{}, fmt.Errorf("the spool holds no sealed segments to replay")
	}
	oldest := l.Sealed[0].First
	if seq > 0 {
		if seq < oldest {
			return store.Checkpoint{}, fmt.Errorf("seq %d is no longer retained (oldest is %d): %w", seq, oldest, spool.ErrGone)
		}
		ck := store.Checkpoint{Seq: seq - 1}
		es, err := r.Read(ctx, seq, 1, 0)
		if err != nil {
			return store.Checkpoint{}, fmt.Errorf("read seq %d to replay from: %w", seq, err)
		}
		if len(es) == 0 {
			return store.Checkpoint{}, fmt.Errorf("seq %d is in no sealed segment of the spool", seq)
		}
		if err := spool.SetApplied(r.Dir(), ck.Seq+1); err != nil { // a full disk must not remove what the replay needs
			return store.Checkpoint{}, err
		}
		if err := st.RaiseReadFrom(es[0].TS); err != nil { // appliedBefore: the replay reads from here
			return store.Checkpoint{}, err
		}
		return ck, st.SetCheckpoint(ck)
	}
	for from := oldest; ; {
		es, err := r.Read(ctx, from, 1000, 16<<20)
		if err != nil {
			return store.Checkpoint{}, err
		}
		if len(es) == 0 {
			return store.Checkpoint{}, fmt.Errorf("no retained entry at or after ts %d,%d", ts.T, ts.I)
		}
		for _, e := range es {
			if !e.TS.Before(ts) {
				if e.Seq == oldest && !e.TS.Equal(ts) && oldest > 1 {
					return store.Checkpoint{}, fmt.Errorf("ts %d,%d is older than the oldest retained entry (%d,%d)", ts.T, ts.I, e.TS.T, e.TS.I)
				}
				ck := store.Checkpoint{Seq: e.Seq - 1}
				if err := spool.SetApplied(r.Dir(), ck.Seq+1); err != nil {
					return store.Checkpoint{}, err
				}
				if err := st.RaiseReadFrom(e.TS); err != nil {
					return store.Checkpoint{}, err
				}
				return ck, st.SetCheckpoint(ck)
			}
		}
		from = es[len(es)-1].Seq + 1
	}
}
