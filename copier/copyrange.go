package copier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/failpoint"
	"github.com/mongo-sync/mongo-sync/internal/projection"
	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
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
func (c *Copier) copyRange(ctx context.Context, t rangeTask) error {
	coll := t.coll
	cur, err := coll.srcHandle.Find(ctx, t.filter(), options.Find().SetBatchSize(int32(c.BatchDocs)))
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
	for cur.Next(ctx) {
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
	failpoint.Hit("copy-before-range-done") // documents inserted, range not recorded
	if err := c.Store.SetRangeDone(coll.srcNS, t.index); err != nil {
		return err
	}
	c.Log.WithFields(map[string]any{"ns": coll.srcNS, "range": t.index}).Debug("range copied")
	return nil
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

// createIndexes builds the source's secondary indexes on the destination.
func (c *Copier) createIndexes(ctx context.Context, coll *collection) error {
	if coll.view {
		return nil
	}
	cur, err := coll.srcHandle.Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", coll.srcNS, err)
	}
	specs := bson.A{}
	for cur.Next(ctx) {
		var spec bson.D
		if err := bson.Unmarshal(cur.Current, &spec); err != nil {
			return err
		}
		name, _ := cur.Current.Lookup("name").StringValueOK()
		if name == "_id_" {
			continue
		}
		var clean bson.D
		for _, e := range spec {
			switch e.Key {
			case "v", "ns", "background":
			default:
				clean = append(clean, e)
			}
		}
		specs = append(specs, clean)
	}
	if len(specs) == 0 {
		return nil
	}
	err = c.Dst.Database(coll.dstDB).RunCommand(ctx, bson.D{{Key: "createIndexes", Value: coll.dstColl}, {Key: "indexes", Value: specs}}).Err()
	if isDupKey(err) {
		err = c.deferUniqueIndexes(ctx, coll, specs, err)
	}
	var se mongo.ServerError
	if err != nil && errors.As(err, &se) && (se.HasErrorCode(codeIndexExists) || se.HasErrorCode(codeIndexOptsSame)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create indexes on %s: %w", coll.dstNS, err)
	}
	return nil
}
