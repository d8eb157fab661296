package translate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Views and time-series collections are not logged as commands. mongod
// keeps a database's view definitions as documents of <db>.system.views
// ({_id: "<db>.<view>", viewOn: "<collection>", pipeline: [...],
// collation: {...} when not simple}) and replicates a view by replicating
// those writes: create inserts the definition, collMod replaces it (an
// update whose o is the whole new definition, o2 {_id}), drop deletes it;
// none of the three logs a create, collMod or drop entry (mongodb/mongo
// src/mongo/db/views/durable_view_catalog.cpp, upsert and remove, 3.4-6.x;
// src/mongo/db/catalog/views_for_database.cpp, _upsertIntoCatalog and
// remove, 7.0+; src/mongo/db/catalog/coll_mod.cpp: "Handle collMod on a
// view and return early. The View Catalog handles the creation of oplog
// entries for modifications on a view"). Users may not write system.views
// on 5.0+ (InvalidNamespace), so the applier turns these writes back into
// the commands a user would run, and never writes system.views.
//
// A time-series collection (5.0+) is a buckets collection
// system.buckets.<name>, whose create entry carries the timeseries options,
// and a view <name> on it, inserted into system.views like any other view
// (src/mongo/db/catalog/create_collection.cpp, _createTimeseries). The
// destination creates both from one create of <name> with the timeseries
// options (timeseriesCreate); the view's own entry is then passed over.

const systemViews = "system.views"

// viewWrite translates an insert (op 'i'), update ('u') or delete ('d') of
// <db>.system.views into a create, collMod or drop of the view. A view is
// synced when its own name is selected; its viewOn is a collection of the
// same database, so a renamed database keeps it as it is.
func (t *Translator) viewWrite(seq uint64, ts bson.Timestamp, op byte, db string, o, o2 bson.Raw) ([]exec.Op, error) {
	key := o
	if op == 'u' {
		key = o2
	}
	id, ok := key.Lookup("_id").StringValueOK()
	if !ok {
		return nil, fmt.Errorf("a write to %s.%s without a string _id (a view definition's _id is <db>.<view>)", db, systemViews)
	}
	viewDB, name := config.SplitNS(id)
	if viewDB != db || name == "" {
		return nil, fmt.Errorf("view definition %q in %s.%s names another database", id, db, systemViews)
	}
	dstNS, ok := t.target(id)
	if !ok {
		return nil, nil
	}
	dstDB, dstColl := config.SplitNS(dstNS)
	if op != 'i' && t.Catalog != nil {
		// A collection (known by UUID: the copy or a later create
		// recorded it) holds the view's name now: the view was dropped
		// and the name reused later in the window (a rename over it, as
		// a materialized view swapped in does). Dropping or changing "the
		// view" would drop or fail on that collection.
		c, err := t.catalog()
		if err != nil {
			return nil, err
		}
		if c.holder(dstNS) != "" {
			t.superseded(seq, ts, id, "view drop or collMod skipped: a collection holds the name now")
			return nil, nil
		}
	}
	if op == 'd' {
		// A time-series collection's view too: dropping it on the
		// destination drops its buckets; the buckets' own drop then finds
		// nothing to drop.
		cmd := bson.D{{Key: "drop", Value: dstColl}}
		return []exec.Op{t.cmdOp(seq, ts, dstNS, "drop (view)", dstDB, cmd, mongoerr.NamespaceNotFound)}, nil
	}
	if op == 'u' && o.Lookup("_id").Type == 0 {
		return nil, fmt.Errorf("update of view definition %s is not a whole definition (o has no _id): mongod replaces view definitions whole", id)
	}
	viewOn, ok := o.Lookup("viewOn").StringValueOK()
	if !ok {
		return nil, fmt.Errorf("view definition %s without viewOn", id)
	}
	pipeline := o.Lookup("pipeline")
	if pipeline.Type != bson.TypeArray {
		return nil, fmt.Errorf("view definition %s without a pipeline array", id)
	}
	if viewOn == config.BucketsPrefix+name {
		// The view of a time-series collection: timeseriesCreate made it
		// with its buckets.
		return nil, nil
	}
	if op == 'i' {
		cmd := bson.D{{Key: "create", Value: dstColl}, {Key: "viewOn", Value: viewOn}, {Key: "pipeline", Value: pipeline}}
		if c := o.Lookup("collation"); c.Type != 0 {
			cmd = append(cmd, bson.E{Key: "collation", Value: c})
		}
		return []exec.Op{t.cmdOp(seq, ts, dstNS, "create (view)", dstDB, cmd, mongoerr.NamespaceExists)}, nil
	}
	// A view's collation cannot change: collMod takes viewOn and pipeline.
	// A view missing on the destination was dropped later in the window.
	cmd := bson.D{{Key: "collMod", Value: dstColl}, {Key: "viewOn", Value: viewOn}, {Key: "pipeline", Value: pipeline}}
	return []exec.Op{t.cmdOp(seq, ts, dstNS, "collMod (view)", dstDB, cmd, mongoerr.NamespaceNotFound)}, nil
}

// timeseriesOptions are the options of a buckets collection's create entry
// that a create of the time-series collection takes; the others (its
// validator, clusteredIndex, idIndex) are the buckets' own, which the
// destination derives itself.
var timeseriesOptions = map[string]bool{"timeseries": true, "expireAfterSeconds": true, "collation": true, "storageEngine": true}

// timeseriesCreate is the create of a time-series collection whose buckets
// collection (dstNS, system.buckets.<name>) a create entry made: a create
// of <name> with the timeseries options, which makes the buckets and the
// view on the destination. A create entry of the collection's own name
// with timeseries options (servers whose time-series collections have no
// view, newer than 8.0: src/mongo/db/timeseries/
// viewless_timeseries_collection_creation_helpers.cpp) gets the same
// options. A destination older than 5.0 refuses it; the error says what
// the entry was.
func (t *Translator) timeseriesCreate(seq uint64, ts bson.Timestamp, dstNS string, o bson.Raw) (exec.Op, error) {
	dstDB, buckets := config.SplitNS(dstNS)
	name := strings.TrimPrefix(buckets, config.BucketsPrefix)
	elems, err := o.Elements()
	if err != nil {
		return exec.Op{}, err
	}
	cmd := bson.D{{Key: "create", Value: name}}
	for _, e := range elems[1:] {
		if timeseriesOptions[e.Key()] {
			cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	op := t.cmdOp(seq, ts, dstNS, "create (time-series)", dstDB, cmd, mongoerr.NamespaceExists)
	run := op.Cmd
	op.Cmd = func(ctx context.Context, c *mongo.Client) error {
		err := run(ctx, c)
		if err != nil && !errors.Is(err, exec.ErrAlreadyApplied) {
			return fmt.Errorf("create time-series collection %s.%s (the source created %s; the destination needs MongoDB 5.0+): %w", dstDB, name, dstNS, err)
		}
		return err
	}
	return op, nil
}

// bucketsSelected reports whether coll is the buckets collection of a
// selected time-series collection: its data follows the name the user
// selected.
func (t *Translator) bucketsSelected(db, coll string) bool {
	name, ok := strings.CutPrefix(coll, config.BucketsPrefix)
	return ok && name != "" && t.NS.Selected(db, name)
}
