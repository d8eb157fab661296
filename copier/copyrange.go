package copier

import (
	"context"
	"fmt"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/failpoint"
	"github.com/mongo-sync/mongo-sync/internal/projection"
	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"
)

// rangeTask is one _id range of a collection: index i lies between
// bounds[i-1] (inclusive) and bounds[i] (exclusive); the ends are open.
type rangeTask struct {
	coll  *collection
	index int
}

func (t rangeTask) filter() bson.D {
	cond := bson.D{}
	if t.index > 0 {
		cond = append(cond, bson.E{Key: "$gte", Value: t.coll.bounds[t.index-1]})
	}
	if t.index < len(t.coll.bounds) {
		cond = append(cond, bson.E{Key: "$lt", Value: t.coll.bounds[t.index]})
	}
	if len(cond) == 0 {
		return bson.D{}
	}
	return bson.D{{Key: "_id", Value: cond}}
}

// insertGrace is how long an insert in flight may still take after a stop.
const insertGrace = 10 * time.Second

// copyRange copies one range in unordered bulk inserts, built as raw insert
// commands straight from the cursor's bytes. After a restart the range
// starts over: documents the last attempt already inserted give
// duplicate-key errors on _id, which mean "already there" — the oplog
// replay from T0 brings every document to its final state afterwards. A
// duplicate on another index stops the copy (settleDuplicates).
//
// A cursor the source ends (cursorLost: killed, reaped while the
// destination was down, its collection dropped or renamed) starts the range
// over the same way, from the collection's UUID: under its new name after a
// rename in the same database (into the same destination namespace; the
// replayed rename moves it on), or, when the collection is gone, the range
// is done: its drop is in the oplog after T0.
func (c *Copier) copyRange(ctx context.Context, t rangeTask) error {
	return c.retryLost(ctx, t, c.copyRangeFrom)
}

// retryLost runs attempt at range t, from the collection where it lives
// now, until it succeeds, fails otherwise than by a lost cursor, ctx ends,
// or the collection is gone (the range is then done).
func (c *Copier) retryLost(ctx context.Context, t rangeTask, attempt func(context.Context, rangeTask, *mongo.Collection, int) error) error {
	coll := t.coll
	var lastLog time.Time
	var backoff retry.Backoff // 50 ms doubling to 5 s, ended by ctx
	for n := 1; ; n++ {
		src, gone, err := c.source(ctx, coll)
		if err != nil {
			return err
		}
		if gone {
			c.Log.WithFields(logrus.Fields{"ns": coll.srcNS, "range": t.index}).
				Info("source collection dropped during its copy: range done (the oplog replays the drop)")
			return c.rangeDone(t)
		}
		err = attempt(ctx, t, src, n)
		if err == nil || !cursorLost(err) {
			return err
		}
		if time.Since(lastLog) > 10*time.Second {
			c.Log.WithError(err).WithFields(logrus.Fields{"ns": coll.srcNS, "range": t.index, "attempt": n}).
				Warn("the source ended the range's cursor: copying the range again")
			lastLog = time.Now()
		}
		if err := backoff.Wait(ctx); err != nil {
			return err
		}
	}
}

// rangeDone records a copied range.
func (c *Copier) rangeDone(t rangeTask) error {
	failpoint.Hit("copy-before-range-done") // documents inserted, range not recorded
	if err := c.Store.SetRangeDone(t.coll.srcNS, t.index); err != nil {
		return err
	}
	c.Log.WithFields(logrus.Fields{"ns": t.coll.srcNS, "range": t.index}).Debug("range copied")
	return nil
}

// copyRangeFrom is one attempt at a range, read from src.
func (c *Copier) copyRangeFrom(ctx context.Context, t rangeTask, src *mongo.Collection, attempt int) error {
	coll := t.coll
	find := options.Find().SetBatchSize(int32(c.BatchDocs))
	if coll.capped() {
		find.SetSort(bson.D{{Key: "$natural", Value: 1}}) // insertion order
	}
	cur, err := src.Find(ctx, t.filter(), find)
	if err != nil {
		return fmt.Errorf("read %s range %d: %w", coll.srcNS, t.index, err)
	}
	defer cur.Close(context.Background())
	// Reading goes on while earlier batches are inserted; inserts in flight
	// are capped for the whole copier.
	g, gctx := errgroup.WithContext(ctx)
	// Inserts are sent under send: a stop (ctx) or a sibling's failure
	// (gctx) ends the retries and new sends, not an insert in flight,
	// which the destination could apply after the range is copied again.
	send, release := retry.Grace(ctx, insertGrace)
	defer release()
	var batch *wirecmd.Builder
	docs, bytes := 0, 0
	flush := func() error {
		if docs == 0 {
			return nil
		}
		cmd, n, size := batch.End(c.tail), int64(docs), int64(bytes)
		batch, docs, bytes = nil, 0, 0
		if gctx.Err() != nil {
			return g.Wait() // a sibling failed: nothing new is sent
		}
		if coll.capped() {
			// One at a time, in the order read (see collection.capped).
			if err := c.insert(gctx, send, coll, cmd); err != nil {
				return err
			}
			c.Progress.Inc(coll.srcNS, n, size)
			return nil
		}
		select {
		case c.inflight <- struct{}{}:
		case <-gctx.Done():
			return g.Wait()
		}
		g.Go(func() error {
			defer func() { <-c.inflight }()
			if err := c.insert(gctx, send, coll, cmd); err != nil {
				return err
			}
			c.Progress.Inc(coll.srcNS, n, size)
			return nil
		})
		return nil
	}
	hook := hookOf(ctx)
	for cur.Next(ctx) {
		if hook != nil {
			hook(coll.srcNS, t.index, attempt, cur.ID())
			hook = nil
		}
		doc := cur.Current
		if coll.fields != nil {
			if doc, err = bson.Marshal(projection.Doc(doc, coll.fields)); err != nil {
				return fmt.Errorf("project %s: %w", coll.srcNS, err)
			}
		}
		if docs > 0 && bytes+len(doc) > wirecmd.MaxStatementBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		if batch == nil {
			batch = &wirecmd.Builder{}
			batch.Begin("insert", coll.dstColl, "documents", false)
		}
		batch.Insert(doc) // copies: Current dies at the next Next
		docs, bytes = docs+1, bytes+len(doc)
		if docs >= c.BatchDocs {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		g.Wait()
		return fmt.Errorf("read %s range %d: %w", coll.srcNS, t.index, err)
	}
	if err := flush(); err != nil {
		return err
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := c.stillNamed(ctx, coll, src); err != nil {
		return fmt.Errorf("read %s range %d: %w", coll.srcNS, t.index, err)
	}
	return c.rangeDone(t)
}

// insert runs one insert command, retrying what the server recovers from
// while ctx lasts; each attempt is sent under send, so that the end of ctx
// stops the retries without abandoning an attempt in flight.
func (c *Copier) insert(ctx, send context.Context, coll *collection, cmd bson.Raw) error {
	db := c.Dst.Database(coll.dstDB)
	err := retry.Do(ctx, c.Log, "copy into "+coll.dstNS, func() error {
		return c.settleDuplicates(ctx, coll, cmd, db.RunCommand(send, cmd).Err())
	})
	if err != nil {
		return fmt.Errorf("copy into %s: %w", coll.dstNS, err)
	}
	return nil
}
