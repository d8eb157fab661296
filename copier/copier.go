// Package copier does the initial copy: every selected collection, source to
// destination, with its options and indexes; documents in unordered bulk
// inserts, several collections at once, large collections split into _id
// ranges copied in parallel. Progress lives in the store, so a restart
// resumes instead of starting over.
package copier

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"golang.org/x/sync/errgroup"
)

// Copier copies the selected namespaces.
type Copier struct {
	Src, Dst *mongo.Client
	NS       *config.Namespaces
	Store    *store.Store
	// Workers copy this many ranges at once (across collections).
	Workers int
	// BatchDocs is the documents per insert batch.
	BatchDocs int
	// SplitDocs splits a collection with more documents than this into
	// ranges of about that many.
	SplitDocs int64
	// SplitAlways splits without asking the source's planner whether an
	// _id range query is an index scan (see split).
	SplitAlways bool
	// DropExisting drops destination collections that hold documents;
	// otherwise such a collection is an error.
	DropExisting bool
	// Claimed, if set, reports whether the copy of another shard of the
	// same sharded source has started srcNS: the destination then holds
	// that shard's documents, so it is neither refused as non-empty nor
	// dropped.
	Claimed func(srcNS string) bool
	// Only, if set, narrows the copy to the selected collections it keeps,
	// by source namespace and UUID (nil when the source reports none): the
	// namespaces added to a running sync's selection, not those its applier
	// fills (a collection created after the first copy).
	Only func(srcNS string, uuid []byte) bool
	// WriteConcern is sent with every insert (nil: the server's default).
	WriteConcern *writeconcern.WriteConcern
	Progress     Progress
	Log          logrus.FieldLogger

	inflight chan struct{} // caps concurrent inserts (2 x Workers)
	tail     []byte        // the elements after every insert's documents (insertTail)
}

// insertTail is what every insert command carries after its documents:
// bypassDocumentValidation, as MongoDB's own oplog application and
// mongorestore do (the copy creates collections with the source's
// validator, and older documents may violate it), and the write concern.
func insertTail(wc *writeconcern.WriteConcern) ([]byte, error) {
	el, err := wirecmd.WriteConcern(wc)
	if err != nil {
		return nil, err
	}
	tail := bsoncore.AppendBooleanElement(nil, "bypassDocumentValidation", true)
	return append(tail, el...), nil
}

// ErrNotEmpty means a destination collection already holds documents.
var ErrNotEmpty = errors.New("destination collection is not empty")

// Run copies everything not yet copied. A source that refuses majority
// reads stops it at its first read, explained (mongoerr.ErrNoMajorityReads).
func (c *Copier) Run(ctx context.Context) error {
	return mongoerr.Explain(c.run(ctx))
}

func (c *Copier) run(ctx context.Context) error {
	c.inflight = make(chan struct{}, 2*max(c.Workers, 1))
	tail, err := insertTail(c.WriteConcern)
	if err != nil {
		return err
	}
	c.tail = tail
	colls, err := c.list(ctx)
	if err != nil {
		return err
	}
	if c.Only != nil {
		kept := colls[:0]
		for _, coll := range colls {
			if c.Only(coll.srcNS, coll.uuid) {
				kept = append(kept, coll)
			}
		}
		colls = kept
	} else if err := c.checkDBsExist(ctx, colls); err != nil {
		// A narrowed copy (Only) checks nothing of the rest of the
		// selection: a database synced before and dropped since is the
		// applier's to follow, and an added one not created yet comes
		// through the spool.
		return err
	}
	var todo []*collection
	for _, coll := range colls {
		if c.Store.CollDone(coll.srcNS) {
			c.Log.WithField("ns", coll.srcNS).Info("already copied: skipped")
			continue
		}
		todo = append(todo, coll)
	}
	// Prepare (check, create, split) one by one, then copy ranges in parallel.
	var tasks []rangeTask
	for _, coll := range todo {
		ts, err := c.prepare(ctx, coll)
		if err != nil {
			return err
		}
		tasks = append(tasks, ts...)
	}
	// A collection is finished (indexes, done mark) as soon as its last
	// range is copied, so a restart skips it whole.
	left := map[*collection]int{}
	for _, t := range tasks {
		left[t.coll]++
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Workers, 1))
	for _, coll := range todo {
		if left[coll] == 0 { // views, and collections whose ranges were all copied
			if err := c.finish(ctx, coll); err != nil {
				return err
			}
		}
	}
	for _, task := range tasks {
		g.Go(func() error {
			// A range whose source or destination went away starts over
			// (documents already inserted come back as duplicates).
			what := fmt.Sprintf("copy %s range %d", task.coll.srcNS, task.index)
			if err := retry.Do(gctx, c.Log, what, func() error { return c.copyRange(gctx, task) }); err != nil {
				return err
			}
			mu.Lock()
			left[task.coll]--
			last := left[task.coll] == 0
			mu.Unlock()
			if last {
				return c.finish(gctx, task.coll)
			}
			return nil
		})
	}
	return g.Wait()
}

// checkDBsExist refuses a filter naming a database the source lacks.
func (c *Copier) checkDBsExist(ctx context.Context, colls []*collection) error {
	wanted := c.NS.DBs()
	if wanted == nil {
		return nil
	}
	have, err := listDatabaseNames(ctx, c.Src)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	for _, d := range have {
		set[d] = true
	}
	for _, d := range wanted {
		if !set[d] {
			return fmt.Errorf("sync.dbs names database %q, which the source does not have", d)
		}
	}
	return nil
}

// finish builds the indexes of a copied collection and marks it done.
func (c *Copier) finish(ctx context.Context, coll *collection) error {
	if err := c.createIndexes(ctx, coll); err != nil {
		return err
	}
	if err := c.Store.SetCollDone(coll.srcNS); err != nil {
		return err
	}
	c.Progress.Done(coll.srcNS)
	c.Log.WithFields(logrus.Fields{"ns": coll.srcNS, "to": coll.dstNS}).Info("collection copied")
	return nil
}
