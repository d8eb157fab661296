// Package workload writes a hostile, seeded workload to a source server for
// live sync tests and the demo: the writes that make re-application hard
// (shared/DESIGN.md, "Re-application").
//
//   - docs: fields that change object <-> scalar <-> null <-> array and are
//     also set and unset by dotted path ($set {"a.b": ..});
//   - accounts: a unique secondary index on email, with accounts deleted
//     and their email re-inserted under another _id, and emails moved from
//     one account to another;
//   - lists: arrays that grow and shrink ($push, $pop, $set of the array);
//   - nums: numeric _ids of one value as int32, int64 and double (inserted
//     as one type, updated and deleted through a filter of another type,
//     re-inserted as a third).
//
// The test server (FerretDB) logs every update as {$set: <whole document>}
// and logs no DDL, so against it this exercises inserts, replacements and
// deletes of these shapes; renames and $out need oplog files.
package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Options configure a workload.
type Options struct {
	Seed uint64
	// DB is the database the workload owns (default "hostile").
	DB string
	// Rate caps operations per second (default 150). The test server does
	// one update in milliseconds; a few hundred per second is its limit.
	Rate int
	// Keys is the number of documents per collection it cycles through
	// (default 40): few enough that one document sees many changes.
	Keys int
	// Base offsets every _id and email key: workloads with bases far
	// enough apart (Keys + 100,000) write disjoint documents into the same
	// collections (the shards of one sharded source).
	Base int
}

// key is a random document key of this workload.
func (w *Workload) key() int { return w.opts.Base + w.rng.IntN(w.opts.Keys) }

func (o *Options) defaults() {
	if o.DB == "" {
		o.DB = "hostile"
	}
	if o.Rate <= 0 {
		o.Rate = 150
	}
	if o.Keys <= 0 {
		o.Keys = 40
	}
}

// Counts are what a run did: operations and source errors, by kind.
type Counts struct {
	Ops    map[string]int
	Errors map[string]int
	// LastError is the newest source error, for a report.
	LastError string
	// Preloaded is how many of Ops Preload made (it fails on any error):
	// the rest are the load's.
	Preloaded int
}

// Total is the number of operations attempted, Preload's included.
func (c Counts) Total() int {
	n := 0
	for _, v := range c.Ops {
		n += v
	}
	return n
}

// Failed is the number of operations the source refused.
func (c Counts) Failed() int {
	n := 0
	for _, v := range c.Errors {
		n += v
	}
	return n
}

// Applied is the number of operations of the load (Preload's left out)
// that the source acknowledged.
func (c Counts) Applied() int { return c.Total() - c.Preloaded - c.Failed() }

// Err is nil when the load wrote something and the source refused
// nothing; otherwise it says which (a test that runs no load, or one the
// source refused, proves nothing about the sync that followed it).
func (c Counts) Err() error {
	if n := c.Failed(); n > 0 {
		return fmt.Errorf("workload: the source refused %d of %d operations (%s)", n, c.Total()-c.Preloaded, c)
	}
	if c.Applied() == 0 {
		return fmt.Errorf("workload: no operation applied (%s)", c)
	}
	return nil
}

func (c Counts) String() string {
	var parts []string
	for k, v := range c.Ops {
		s := fmt.Sprintf("%s=%d", k, v)
		if e := c.Errors[k]; e > 0 {
			s += fmt.Sprintf(" (%d refused)", e)
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	s := fmt.Sprintf("%d ops (%d by the preload): %s", c.Total(), c.Preloaded, strings.Join(parts, ", "))
	if c.LastError != "" {
		s += "; last source error: " + c.LastError
	}
	return s
}

// Workload is one seeded writer. It is not safe for concurrent use: run it
// in one goroutine.
type Workload struct {
	opts   Options
	db     *mongo.Database
	rng    *rand.Rand
	counts Counts
	seq    int
	rev    int64

	docs  map[int]docState
	accts map[int]string // account _id -> email
	owner map[string]int // email -> account _id
	lists map[int]int    // list _id -> length
	nums  map[int]int    // numeric _id value -> type (0 int32, 1 int64, 2 double); absent: not stored
}

// New returns a workload on c; call Preload once, then Run.
func New(c *mongo.Client, o Options) *Workload {
	o.defaults()
	return &Workload{
		opts: o, db: c.Database(o.DB), rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		counts: Counts{Ops: map[string]int{}, Errors: map[string]int{}},
		docs:   map[int]docState{}, accts: map[int]string{}, owner: map[string]int{},
		lists: map[int]int{}, nums: map[int]int{},
	}
}

// Run writes until stop closes or ctx ends, at most Rate operations per
// second, and returns the counts.
func (w *Workload) Run(ctx context.Context, stop <-chan struct{}) Counts {
	tick := time.NewTicker(time.Second / time.Duration(w.opts.Rate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return w.Counts()
		case <-ctx.Done():
			return w.Counts()
		case <-tick.C:
		}
		w.step(ctx)
	}
}

// Counts returns a copy of the counts so far.
func (w *Workload) Counts() Counts {
	c := Counts{Ops: map[string]int{}, Errors: map[string]int{}, LastError: w.counts.LastError, Preloaded: w.counts.Preloaded}
	for k, v := range w.counts.Ops {
		c.Ops[k] = v
	}
	for k, v := range w.counts.Errors {
		c.Errors[k] = v
	}
	return c
}

// Start runs the workload in a goroutine; the returned function closes
// stop, waits, and returns the counts.
func (w *Workload) Start(ctx context.Context) (stopAndWait func() Counts) {
	stop, done := make(chan struct{}), make(chan Counts, 1)
	go func() { done <- w.Run(ctx, stop) }()
	return func() Counts {
		close(stop)
		return <-done
	}
}

func (w *Workload) step(ctx context.Context) {
	switch x := w.rng.IntN(10); {
	case x < 4:
		w.docStep(ctx)
	case x < 6:
		w.accountStep(ctx)
	case x < 8:
		w.listStep(ctx)
	default:
		w.numStep(ctx)
	}
}

// stamp adds rev: <a new number> to an update's $set, or to a replacement,
// so that every write changes its document by value. The test server as a
// destination skips a replacement whose new document it holds equal to the
// old one (numbers compared by value, field names ignored), and the applier
// applies the test server's logged updates ({$set: <whole document>}) as
// replacements: a write that only changed a number's type (1 -> int64 1)
// would be lost there, though MongoDB keeps it. With rev the type changes
// still reach the destination, inside a document that changed.
func (w *Workload) stamp(doc bson.D) bson.D {
	w.rev++
	if len(doc) == 0 || doc[0].Key[0] != '$' {
		return append(doc, bson.E{Key: "rev", Value: w.rev})
	}
	for i, e := range doc {
		if e.Key == "$set" {
			doc[i].Value = append(e.Value.(bson.D), bson.E{Key: "rev", Value: w.rev})
			return doc
		}
	}
	return append(doc, bson.E{Key: "$set", Value: bson.D{{Key: "rev", Value: w.rev}}})
}

// note counts an operation of kind and its error, if any; it reports
// whether the operation succeeded.
func (w *Workload) note(kind string, err error) bool {
	w.counts.Ops[kind]++
	if err != nil {
		w.counts.Errors[kind]++
		w.counts.LastError = kind + ": " + err.Error()
		return false
	}
	return true
}
