// Package reader tails a source's oplog, or reads a mongodump oplog.bson,
// into the spool. It is the only part of mongo-sync that reads the oplog, and
// it never talks to the destination.
package reader

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/errgroup"
)

// Source produces raw oplog entries after last (nil: from its start). It
// calls emit(nil) now and then while idle so batches flush on time, and
// emit(handOver) when it is about to wait on the server with nothing more in
// hand, so no entry read waits in a batch for the next one.
type Source interface {
	produce(ctx context.Context, last *bson.Raw, emit func(bson.Raw) error) error
}

// Appender is what the reader needs of the spool (a *spool.Writer).
type Appender interface {
	Last() (spool.Entry, bool)
	Append(ctx context.Context, raws []bson.Raw) (first, last uint64, err error)
	MarkEnded() error
}

// Reader moves entries from a Source into a spool.
type Reader struct {
	W             Appender
	Source        Source
	Filter        Filter
	BatchSize     int
	BatchInterval time.Duration
	LogInterval   time.Duration
	// ProgressInterval: when nothing was spooled this long but entries were
	// read and skipped, a position marker is spooled (default 10s).
	ProgressInterval time.Duration
	Log              logrus.FieldLogger
	// EndWhenDone marks the spool ended when the source is exhausted (a file).
	EndWhenDone bool
	Rec         *status.Recorder

	read, spooled atomic.Int64
	// pending counts entries handed to the consumer and not yet appended.
	pending  atomic.Int64
	caughtUp atomic.Bool // the source had nothing more to read at the last look
}

// Run spools until ctx ends (then it flushes what it read and returns nil),
// the source is exhausted, or an error stops it. An append error stops it
// at once: the source is read no further, and Run returns that error.
func (r *Reader) Run(ctx context.Context) error {
	if r.BatchSize <= 0 {
		r.BatchSize = 1000
	}
	if r.BatchInterval <= 0 {
		r.BatchInterval = 100 * time.Millisecond
	}
	if r.LogInterval <= 0 {
		r.LogInterval = 10 * time.Second
	}
	if r.ProgressInterval <= 0 {
		r.ProgressInterval = 10 * time.Second
	}
	r.pending.Store(0)
	var last *bson.Raw
	if e, ok := r.W.Last(); ok {
		r.Rec.Positions(e.Seq, e.TS, 0, bson.Timestamp{}, false)
		last = &e.Raw
		r.Log.WithFields(logrus.Fields{"seq": e.Seq, "ts": oplog.FormatTS(e.TS)}).Info("resuming after the spool's last entry")
	}

	// The producer reads, the consumer appends. Either one's error ends
	// gctx; the consumer still drains what the producer hands over, unless
	// it is the one that failed.
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan []bson.Raw, 4)
	consumerGone := make(chan struct{})
	g.Go(func() error {
		defer close(batches)
		b := &batcher{r: r, out: batches, ctx: gctx, gone: consumerGone, lastSpooled: time.Now()}
		if o, ok := r.Source.(*OplogSource); ok && (r.Rec != nil || o.Idle != nil) {
			next := o.Idle
			if t, ok := next.(idleTee); ok {
				next = t.next // an earlier Run's: its batcher is gone
			}
			o.Idle = idleTee{next: next, r: r, b: b}
		}
		err := r.Source.produce(gctx, last, b.emit)
		if ferr := b.flush(); err == nil {
			err = ferr
		}
		return err
	})
	var appendErr error
	g.Go(func() error {
		defer close(consumerGone)
		appendErr = r.consume(ctx, batches)
		return appendErr
	})
	err := g.Wait()
	if appendErr != nil {
		r.Log.WithError(appendErr).WithField("spooled", r.spooled.Load()).Error("appending to the spool failed: reader stopped")
		return appendErr
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		r.Log.WithField("spooled", r.spooled.Load()).Info("stopped: last batch flushed")
		return nil
	}
	if err != nil {
		return err
	}
	if r.EndWhenDone {
		if err := r.W.MarkEnded(); err != nil {
			return err
		}
		r.Log.WithFields(logrus.Fields{"read": r.read.Load(), "spooled": r.spooled.Load()}).Info("source exhausted: spool marked ended")
	}
	return nil
}

// consume appends the batches until the producer closes the channel, or
// until an append fails.
func (r *Reader) consume(ctx context.Context, batches <-chan []bson.Raw) error {
	// Appends outlive a shutdown signal long enough to flush the last batch.
	appendCtx, cancelAppend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAppend()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(30*time.Second, cancelAppend) })
	defer stop()

	tick := time.NewTicker(r.LogInterval)
	defer tick.Stop()
	lastLog, lastCount, lastRead := time.Now(), int64(0), int64(0)
	for {
		select {
		case batch, ok := <-batches:
			if !ok {
				return nil
			}
			batch = coalesce(batch, batches, r.BatchSize)
			_, last, err := r.W.Append(appendCtx, batch)
			if err != nil {
				return fmt.Errorf("append %d entries (ts %s to %s) to the spool: %w",
					len(batch), oplog.FormatTS(tsOf(batch[0])), oplog.FormatTS(tsOf(batch[len(batch)-1])), err)
			}
			r.spooled.Add(int64(len(batch)))
			if e, ok := r.W.Last(); ok {
				r.Rec.Spooled(len(batch), last, e.TS)
			}
			r.pending.Add(-int64(len(batch)))
		case <-tick.C:
			r.Rec.CaughtUp(r.caughtUp.Load())
			r.Rec.Read(int(r.read.Load() - lastRead))
			lastRead = r.read.Load()
			n := r.spooled.Load()
			r.logProgress(float64(n-lastCount) / time.Since(lastLog).Seconds())
			lastLog, lastCount = time.Now(), n
		}
	}
}

// coalesce appends to batch the batches already waiting, while it holds
// fewer than size entries: batches handed over one by one while an append
// was running go to the spool in one transaction.
func coalesce(batch []bson.Raw, batches <-chan []bson.Raw, size int) []bson.Raw {
	for len(batch) < size {
		select {
		case more, ok := <-batches:
			if !ok {
				return batch // the consumer sees the close at its next receive
			}
			batch = append(batch, more...)
		default:
			return batch
		}
	}
	return batch
}

func (r *Reader) logProgress(rate float64) {
	f := logrus.Fields{"entries_per_s": int64(rate), "spooled": r.spooled.Load(), "caught_up": r.caughtUp.Load()}
	if e, ok := r.W.Last(); ok {
		f["newest_ts"] = oplog.FormatTS(e.TS)
	}
	// The one lag (status.Lag): the applier's behind the source, known
	// where this process applies too.
	if lag, ok := r.Rec.Lag(); ok {
		f["lag_s"] = lag.Round(time.Millisecond).Seconds()
	}
	r.Log.WithFields(f).Info("reader progress")
}

// batcher groups entries by count and time and filters them.
type batcher struct {
	r           *Reader
	ctx         context.Context
	out         chan<- []bson.Raw
	gone        <-chan struct{} // closed when the consumer stopped
	cur         []bson.Raw
	first       time.Time
	lastSpooled time.Time
	skipped     bson.Raw // the newest entry read and skipped since the last spooled one
}

func (b *batcher) emit(raw bson.Raw) error {
	if err := b.ctx.Err(); err != nil {
		return err // stopped: take nothing more
	}
	if raw != nil && len(raw) == 0 { // handOver
		if len(b.cur) > 0 {
			return b.send()
		}
		return nil
	}
	b.r.caughtUp.Store(raw == nil)
	if raw != nil {
		b.r.read.Add(1)
		switch b.r.Filter.Judge(raw) {
		case Spool:
			b.add(raw)
			b.skipped = nil
		case Skip:
			b.skipped = raw
		}
	}
	if b.skipped != nil && len(b.cur) == 0 && time.Since(b.lastSpooled) >= b.r.ProgressInterval {
		m, err := Marker(b.skipped)
		if err != nil {
			return err
		}
		b.add(m)
		b.skipped = nil
	}
	if len(b.cur) >= b.r.BatchSize || (len(b.cur) > 0 && time.Since(b.first) >= b.r.BatchInterval) {
		return b.send()
	}
	return nil
}

func (b *batcher) add(raw bson.Raw) {
	if len(b.cur) == 0 {
		b.first = time.Now()
		b.cur = make([]bson.Raw, 0, b.r.BatchSize)
	}
	b.cur = append(b.cur, raw)
}

func (b *batcher) send() error {
	b.r.pending.Add(int64(len(b.cur)))
	select {
	case b.out <- b.cur:
		b.cur = nil
		b.lastSpooled = time.Now()
		return nil
	case <-b.ctx.Done():
		b.r.pending.Add(-int64(len(b.cur)))
		return b.ctx.Err()
	}
}

// idleTee tells the status recorder that the source was caught up when a
// cursor that has nothing more to give was opened, if everything read is in
// the spool by now (nothing in the batcher, nothing handed over and not yet
// appended); then it passes the report on, with that finding to a
// SpoolAwareReporter.
type idleTee struct {
	next IdleReporter
	r    *Reader
	b    *batcher // read on the producer's goroutine, which reports idle
}

func (t idleTee) Idle(opened time.Time, through bson.Timestamp) bool {
	spooled := len(t.b.cur) == 0 && t.r.pending.Load() == 0
	if spooled {
		t.r.Rec.SourceIdle(opened)
	}
	if s, ok := t.next.(SpoolAwareReporter); ok {
		return s.IdleSpooled(opened, through, spooled)
	}
	if t.next == nil {
		return false
	}
	return t.next.Idle(opened, through)
}

// flush hands over what is left, even after ctx ended: the consumer is still
// draining, unless it stopped on an error (then the batch is not spooled,
// and the error says so).
func (b *batcher) flush() error {
	if len(b.cur) == 0 {
		return nil
	}
	select {
	case <-b.gone:
		return nil
	default:
	}
	b.r.pending.Add(int64(len(b.cur)))
	select {
	case b.out <- b.cur:
	case <-b.gone:
		b.r.pending.Add(-int64(len(b.cur)))
	}
	b.cur = nil
	return nil
}
