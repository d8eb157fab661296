package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Written is what the source's oplog logged over an interval of a live
// comparison, by source namespace. A document it does not name kept one
// state across the interval; one it names may have changed and changed
// back, which two reads of the source cannot tell from no change at all.
// It errs on the side of "may have changed": an entry it cannot pin to
// documents marks its whole namespace, or every namespace.
//
// Entry shapes (mongod's oplog_entry.idl and op_observer_impl.cpp): 'i'
// and 'd' name the document in o._id, 'u' in o2._id; 'c' is a command on
// db.$cmd whose first field names the collection, or applyOps (a
// transaction, a batched delete) holding entries of the same shapes; 'n'
// changes nothing. A transaction's entries are chained by prevOpTime: a
// commitTransaction makes visible what its prepare entry logged, and the
// last applyOps of a large transaction what the partialTxn entries before
// it did, perhaps before the interval; Links lists where to read them.
type Written struct {
	docs   map[string]map[string]bool // namespace → idKey
	counts map[string]bool            // namespaces with an insert or a delete
	all    map[string]bool            // namespaces a command may have changed throughout
	dbs    map[string]bool            // databases dropped
	every  bool                       // an entry that may have changed any namespace
	links  []bson.Timestamp           // prevOpTime of transaction entries
}

// Add records one oplog entry.
func (w *Written) Add(e bson.Raw) {
	op, _ := e.Lookup("op").StringValueOK()
	ns, _ := e.Lookup("ns").StringValueOK()
	if db, coll, ok := strings.Cut(ns, "."); ok && strings.HasPrefix(coll, config.BucketsPrefix) {
		// A time-series collection's measurements are read through the
		// collection, and written to its buckets: any may have changed.
		w.mark(&w.all, db+"."+strings.TrimPrefix(coll, config.BucketsPrefix))
	}
	switch op {
	case "n":
	case "ci", "cu", "cd":
		// Container writes: the source node's storage-internal records
		// (index keys, fast counts), no document.
	case "i", "d":
		w.doc(ns, e.Lookup("o", "_id"))
		w.mark(&w.counts, ns)
	case "u":
		w.doc(ns, e.Lookup("o2", "_id"))
	case "c":
		o, ok := e.Lookup("o").DocumentOK()
		if !ok {
			w.every = true
			return
		}
		t, i, linked := e.Lookup("prevOpTime", "ts").TimestampOK()
		if linked = linked && (t != 0 || i != 0); linked {
			w.links = append(w.links, bson.Timestamp{T: t, I: i})
		}
		w.command(strings.TrimSuffix(ns, ".$cmd"), o, linked)
	default:
		w.every = true
	}
}

// command records a command entry of database db; linked: the entry
// names an earlier one of its transaction (prevOpTime).
func (w *Written) command(db string, o bson.Raw, linked bool) {
	elems, err := o.Elements()
	if err != nil || len(elems) == 0 {
		w.every = true
		return
	}
	first := elems[0]
	switch first.Key() {
	case "applyOps":
		ops, ok := first.Value().ArrayOK()
		if !ok {
			w.every = true
			return
		}
		vals, err := ops.Values()
		if err != nil {
			w.every = true
			return
		}
		for _, v := range vals {
			inner, ok := v.DocumentOK()
			if !ok {
				w.every = true
				return
			}
			w.Add(inner)
		}
	case "abortTransaction":
	case "commitTransaction":
		// What it commits is in the entry its prevOpTime names (Links);
		// one without it cannot be followed.
		if !linked {
			w.every = true
		}
	case "dropDatabase":
		w.mark(&w.dbs, db)
	case "renameCollection":
		from, ok1 := first.Value().StringValueOK()
		to, ok2 := o.Lookup("to").StringValueOK()
		if !ok1 || !ok2 {
			w.every = true
			return
		}
		w.mark(&w.all, from)
		w.mark(&w.all, to)
	default:
		coll, ok := first.Value().StringValueOK()
		if !ok {
			w.every = true
			return
		}
		w.mark(&w.all, db+"."+coll)
	}
}

func (w *Written) doc(ns string, id bson.RawValue) {
	if id.Type == 0 {
		w.mark(&w.all, ns)
		return
	}
	if w.docs == nil {
		w.docs = map[string]map[string]bool{}
	}
	m := w.docs[ns]
	if m == nil {
		m = map[string]bool{}
		w.docs[ns] = m
	}
	m[idKey(id)] = true
}

func (w *Written) mark(m *map[string]bool, ns string) {
	if *m == nil {
		*m = map[string]bool{}
	}
	(*m)[ns] = true
}

// Doc reports whether the interval may have changed document id of ns.
func (w *Written) Doc(ns string, id bson.RawValue) bool {
	return w.whole(ns) || w.docs[ns][idKey(id)]
}

// Count reports whether the interval may have changed ns's count.
func (w *Written) Count(ns string) bool {
	return w.whole(ns) || w.counts[ns]
}

func (w *Written) whole(ns string) bool {
	db, _, _ := strings.Cut(ns, ".")
	return w.every || w.all[ns] || w.dbs[db]
}

// Links takes the prevOpTimes of the transaction entries added since the
// last call: the entries to add too, where they precede the interval.
func (w *Written) Links() []bson.Timestamp {
	l := w.links
	w.links = nil
	return l
}

// WatchOplogs is a Live.Watch over the oplogs of srcs (a replica set, or
// every shard of a sharded source): each one's position now, and then
// every entry it logged after it.
func WatchOplogs(srcs []*mongo.Client) func(ctx context.Context) (func(ctx context.Context) (*Written, error), error) {
	return func(ctx context.Context) (func(ctx context.Context) (*Written, error), error) {
		marks := make([]bson.Timestamp, len(srcs))
		for i, c := range srcs {
			// Majority-committed (or the newest entry): what a read at
			// read concern majority made visible after it is logged
			// after it.
			ts, _, err := copier.NewestVia(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("source's newest position: %w", err)
			}
			marks[i] = ts
		}
		return func(ctx context.Context) (*Written, error) {
			w := &Written{}
			for i, c := range srcs {
				if err := w.read(ctx, c, marks[i]); err != nil {
					return nil, err
				}
			}
			return w, nil
		}, nil
	}
}

// read adds every entry of src's oplog after mark, up to its newest
// entry now (majority-committed: what the second read of the source and
// the destination can hold), and the earlier entries of transactions
// those commit.
func (w *Written) read(ctx context.Context, src *mongo.Client, mark bson.Timestamp) error {
	end, _, err := copier.NewestVia(ctx, src)
	if err != nil {
		return fmt.Errorf("source's newest position: %w", err)
	}
	coll := src.Database("local").Collection("oplog.rs", options.Collection().SetReadPreference(readpref.Primary()))
	// From the mark itself: an oplog that no longer holds it rolled over
	// during the check, and what it lost is unknown.
	cur, err := coll.Find(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$gte", Value: mark}, {Key: "$lte", Value: end}}}}, options.Find().SetBatchSize(1000))
	if err != nil {
		return fmt.Errorf("read the source's oplog after %s: %w", oplog.FormatTS(mark), err)
	}
	defer cur.Close(ctx)
	first := true
	for cur.Next(ctx) {
		t, i, _ := cur.Current.Lookup("ts").TimestampOK()
		ts := bson.Timestamp{T: t, I: i}
		if first && !mark.IsZero() && ts != mark {
			return fmt.Errorf("the source's oplog no longer holds %s, where this re-check began (its oldest entry is now %s): it rolled over during verify --live", oplog.FormatTS(mark), oplog.FormatTS(ts))
		}
		first = false
		if ts != mark {
			w.Add(cur.Current)
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("read the source's oplog after %s: %w", oplog.FormatTS(mark), err)
	}
	if first && !mark.IsZero() && !end.Before(mark) {
		return fmt.Errorf("the source's oplog no longer holds %s, where this re-check began: it rolled over during verify --live", oplog.FormatTS(mark))
	}
	// Transactions committed in the interval whose earlier entries precede
	// it (entries inside it were added above).
	seen := map[bson.Timestamp]bool{}
	for links := w.Links(); len(links) > 0; links = append(links[1:], w.Links()...) {
		ts := links[0]
		if mark.Before(ts) || seen[ts] {
			continue
		}
		seen[ts] = true
		e, err := coll.FindOne(ctx, bson.D{{Key: "ts", Value: ts}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			w.every = true // rolled over: what it committed is unknown
			continue
		}
		if err != nil {
			return fmt.Errorf("read the source's oplog entry %s (a transaction committed during the re-check): %w", oplog.FormatTS(ts), err)
		}
		w.Add(e)
	}
	return nil
}
