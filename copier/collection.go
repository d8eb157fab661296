package copier

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/ddl"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// collection is one selected source collection (or view).
type collection struct {
	srcNS, dstNS   string
	srcDB, srcColl string
	dstDB, dstColl string
	view           bool
	uuid           []byte // the source collection's UUID (nil: not reported)
	options        bson.Raw
	fields         []string
	estimatedDocs  int64
	srcHandle      *mongo.Collection
	dstHandle      *mongo.Collection
	bounds         []bson.RawValue // range boundaries between ranges
}

// capped reports a capped collection: it keeps its documents in insertion
// order and, once full, removes the oldest, so it is copied as one range,
// read in natural order and inserted one command at a time, in that order
// (otherwise the destination, once it wraps, holds other documents).
func (c *collection) capped() bool {
	b, _ := c.options.Lookup("capped").BooleanOK()
	return b
}

// Selected is a selected source collection (or view) and where it goes.
type Selected struct {
	SrcNS, DstNS string
	View         bool
	UUID         []byte // the source collection's UUID, nil when not reported
	Options      bson.Raw
	Fields       []string // projection; nil: whole documents
}

// systemViews holds a database's view definitions (mongodb/mongo
// src/mongo/db/catalog/views_for_database.cpp): its views are listed, and
// copied, as views; its documents are never copied (5.0+ refuses writes to
// it, and their _id names the source database).
const systemViews = "system.views"

// ListSelected lists the source collections that sync.dbs selects (never
// admin, local, config, system.views or other system.* but the buckets of
// time-series collections), with their destination names. It asks
// listDatabases with authorizedDatabases: false, whatever opts say (see
// listDatabaseNames).
func ListSelected(ctx context.Context, src *mongo.Client, ns *config.Namespaces, opts ...options.Lister[options.ListDatabasesOptions]) ([]Selected, error) {
	dbs, err := listDatabaseNames(ctx, src, opts...)
	if err != nil {
		return nil, err
	}
	var out []Selected
	for _, db := range dbs {
		if !ns.DBSelected(db) {
			continue
		}
		specs, err := src.Database(db).ListCollectionSpecifications(ctx, bson.D{})
		if err != nil {
			err = mongoerr.NeedPrivilege(err, "listCollections", "the listCollections action on database "+db+" (its read role)")
			return nil, fmt.Errorf("list collections of %s: %w", db, err)
		}
		for _, s := range specs {
			if !ns.Selected(db, s.Name) || s.Name == systemViews {
				continue
			}
			if s.Type == "timeseries" {
				return nil, fmt.Errorf("%s.%s is a time-series collection: syncing those is not supported yet", db, s.Name)
			}
			srcNS := db + "." + s.Name
			sel := Selected{SrcNS: srcNS, DstNS: ns.MapNS(srcNS), View: s.Type == "view",
				Options: s.Options, Fields: ns.Fields(srcNS)}
			if s.UUID != nil {
				sel.UUID = s.UUID.Data
			}
			out = append(out, sel)
		}
	}
	return out, nil
}

// needListDatabases is the privilege listDatabaseNames needs.
const needListDatabases = "the listDatabases action on the cluster resource (role readAnyDatabase, " +
	"or a custom role granting it) to list every database: without it MongoDB lists only the " +
	"databases the user may read, and the copy would leave the others out unseen"

// listDatabaseNames lists the source's databases, always with
// authorizedDatabases: false (after opts, so it wins). A user without the
// listDatabases action would otherwise get, from MongoDB 4.0.5 on, only
// the databases it has privileges on, and no error (mongodb/mongo
// src/mongo/db/commands/list_databases.cpp; the manual's listDatabases,
// authorizedDatabases): the copy would skip the others while the reader
// spools their writes, and verify would not notice. With it mongod answers
// Unauthorized (13), returned here as a *mongoerr.PrivilegeError that names
// the command and the privilege.
func listDatabaseNames(ctx context.Context, src *mongo.Client, opts ...options.Lister[options.ListDatabasesOptions]) ([]string, error) {
	all := append(append([]options.Lister[options.ListDatabasesOptions](nil), opts...),
		options.ListDatabases().SetAuthorizedDatabases(false))
	dbs, err := src.ListDatabaseNames(ctx, bson.D{}, all...)
	if err != nil {
		return nil, fmt.Errorf("list source databases: %w", mongoerr.NeedPrivilege(err, "listDatabases", needListDatabases))
	}
	return dbs, nil
}

// list finds the selected collections of the source.
func (c *Copier) list(ctx context.Context) ([]*collection, error) {
	sel, err := ListSelected(ctx, c.Src, c.NS)
	if err != nil {
		return nil, err
	}
	out := make([]*collection, 0, len(sel))
	for _, s := range sel {
		srcDB, srcColl := config.SplitNS(s.SrcNS)
		dstDB, dstColl := config.SplitNS(s.DstNS)
		out = append(out, &collection{srcNS: s.SrcNS, dstNS: s.DstNS, srcDB: srcDB, srcColl: srcColl, dstDB: dstDB, dstColl: dstColl,
			view: s.View, uuid: s.UUID, options: s.Options, fields: s.Fields,
			srcHandle: sourceCollection(c.Src, srcDB, srcColl), dstHandle: c.Dst.Database(dstDB).Collection(dstColl)})
	}
	return out, nil
}

const (
	codeNamespaceExists = 48
	codeIndexExists     = 68
	codeIndexOptsSame   = 85 // IndexOptionsConflict on a replayed build
)

// prepare checks the destination, creates the collection with its options,
// and splits it into ranges (recorded, so a restart copies the same ones).
func (c *Copier) prepare(ctx context.Context, coll *collection) ([]rangeTask, error) {
	_, started := c.Store.Split(coll.srcNS)
	if !started {
		n, err := coll.dstHandle.EstimatedDocumentCount(ctx)
		if err != nil {
			return nil, fmt.Errorf("count destination %s: %w", coll.dstNS, err)
		}
		if n > 0 && !coll.view && (c.Claimed == nil || !c.Claimed(coll.srcNS)) {
			if !c.DropExisting {
				return nil, fmt.Errorf("%s holds %d documents: %w (use sync.drop_existing or --drop to replace it)", coll.dstNS, n, ErrNotEmpty)
			}
			c.Log.WithField("ns", coll.dstNS).Warn("dropping the non-empty destination collection (drop_existing)")
			if err := coll.dstHandle.Drop(ctx); err != nil {
				return nil, fmt.Errorf("drop %s: %w", coll.dstNS, err)
			}
		}
		if err := c.create(ctx, coll); err != nil {
			return nil, err
		}
		// The applier routes entries by this UUID: writes logged before a
		// rename in the catch-up window land where the collection lives.
		if coll.uuid != nil {
			if err := c.Store.SetCollection(coll.uuid, coll.dstNS); err != nil {
				return nil, err
			}
		}
		if coll.view {
			return nil, c.Store.SetSplit(coll.srcNS, mustArray(nil))
		}
		est, err := estimateCount(ctx, coll.srcHandle)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", coll.srcNS, err)
		}
		coll.estimatedDocs = est
		bounds, err := c.split(ctx, coll)
		if err != nil {
			return nil, err
		}
		if err := c.Store.SetSplit(coll.srcNS, mustArray(bounds)); err != nil {
			return nil, err
		}
	}
	raw, _ := c.Store.Split(coll.srcNS)
	vals, err := bson.Raw(raw).Values()
	if err != nil {
		return nil, fmt.Errorf("recorded ranges of %s are damaged: %w", coll.srcNS, err)
	}
	coll.bounds = vals
	if coll.view {
		return nil, nil
	}
	if coll.estimatedDocs == 0 {
		coll.estimatedDocs, _ = estimateCount(ctx, coll.srcHandle)
	}
	c.Progress.Add(coll.srcNS, coll.estimatedDocs)
	var tasks []rangeTask
	for i := 0; i <= len(vals); i++ {
		if c.Store.RangeDone(coll.srcNS, i) {
			c.Log.WithFields(map[string]any{"ns": coll.srcNS, "range": i}).Info("range already copied: skipped")
			continue
		}
		tasks = append(tasks, rangeTask{coll: coll, index: i})
	}
	return tasks, nil
}

// estimateCount is the collection's document count from its metadata:
// $collStats' count (summed over shards behind mongos), else the driver's
// estimatedDocumentCount. It only picks ranges and sizes progress bars. On
// the test server estimatedDocumentCount reads every document (0.35 s for
// 20,000), $collStats does not (10 ms).
func estimateCount(ctx context.Context, c *mongo.Collection) (int64, error) {
	cur, err := c.Aggregate(ctx, bson.A{bson.D{{Key: "$collStats", Value: bson.D{{Key: "count", Value: bson.D{}}}}}})
	if err == nil {
		defer cur.Close(context.Background())
		var n int64
		for cur.Next(ctx) {
			v, ok := cur.Current.Lookup("count").AsInt64OK()
			if !ok {
				err = fmt.Errorf("$collStats without a count")
				break
			}
			n += v
		}
		if err == nil {
			err = cur.Err()
		}
		if err == nil {
			return n, nil
		}
	}
	return c.EstimatedDocumentCount(ctx)
}

// create creates the destination collection (or view) with the source's
// options; an existing one is fine (a restart).
func (c *Copier) create(ctx context.Context, coll *collection) error {
	cmd := bson.D{{Key: "create", Value: coll.dstColl}}
	elems, _ := coll.options.Elements()
	for _, e := range elems {
		if !ddl.SourceStorageOption(e.Key()) {
			cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	err := c.Dst.Database(coll.dstDB).RunCommand(ctx, cmd).Err()
	var se mongo.ServerError
	if err != nil && errors.As(err, &se) && se.HasErrorCode(codeNamespaceExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s with options %s: %w", coll.dstNS, coll.options, err)
	}
	return nil
}

// split picks _id boundaries so each range holds about SplitDocs documents,
// where the source's planner runs an _id range query as an index scan
// (explainRange); elsewhere every range would read the whole collection.
// Ranges compare _id values, which only order within one BSON type class:
// a collection whose smallest and largest _id differ in class is copied as
// one range.
func (c *Copier) split(ctx context.Context, coll *collection) ([]bson.RawValue, error) {
	if c.SplitDocs <= 0 || coll.estimatedDocs <= c.SplitDocs {
		return nil, nil
	}
	if coll.capped() {
		c.Log.WithField("ns", coll.srcNS).Info("a capped collection: copying as one range, in insertion order")
		return nil, nil
	}
	if !c.SplitAlways {
		plan := explainRange(ctx, coll.srcHandle)
		log := c.Log.WithFields(map[string]any{"ns": coll.srcNS, "plan": plan.why})
		if !plan.index {
			log.Info("an _id range query is not an index scan on the source: copying as one range")
			return nil, nil
		}
		log.Info("an _id range query is an index scan on the source: splitting into ranges")
	}
	first, err := c.idAt(ctx, coll, 0, 1)
	if err != nil || first == nil {
		return nil, err
	}
	last, err := c.idAt(ctx, coll, 0, -1)
	if err != nil || last == nil {
		return nil, err
	}
	if typeClass(first.Type) != typeClass(last.Type) {
		c.Log.WithField("ns", coll.srcNS).Info("_id values of several types: copying as one range")
		return nil, nil
	}
	// One pass over the _id index, keeping every SplitDocs-th value (a skip
	// query per boundary would rescan from the start each time).
	cur, err := coll.srcHandle.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetProjection(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(10000))
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", coll.srcNS, err)
	}
	defer cur.Close(context.Background())
	var bounds []bson.RawValue
	for i := int64(0); cur.Next(ctx); i++ {
		if i > 0 && i%c.SplitDocs == 0 {
			v := cur.Current.Lookup("_id")
			v.Value = append([]byte(nil), v.Value...)
			bounds = append(bounds, v)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("split %s: %w", coll.srcNS, err)
	}
	c.Log.WithFields(map[string]any{"ns": coll.srcNS, "ranges": len(bounds) + 1}).Info("split into _id ranges")
	return bounds, nil
}

// idAt is the _id at position skip in _id order (dir 1) or from the end (-1).
func (c *Copier) idAt(ctx context.Context, coll *collection, skip int64, dir int) (*bson.RawValue, error) {
	raw, err := coll.srcHandle.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: dir}}).
		SetSkip(skip).SetProjection(bson.D{{Key: "_id", Value: 1}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", coll.srcNS, err)
	}
	v := raw.Lookup("_id")
	v.Value = append([]byte(nil), v.Value...)
	return &v, nil
}

// typeClass groups BSON types that compare with each other by value.
func typeClass(t bson.Type) int {
	switch t {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return 1
	case bson.TypeString, bson.TypeSymbol:
		return 2
	}
	return int(t) + 100
}

func mustArray(vals []bson.RawValue) bson.Raw {
	arr := bson.A{}
	for _, v := range vals {
		arr = append(arr, v)
	}
	_, b, err := bson.MarshalValue(arr)
	if err != nil {
		panic(err)
	}
	return b
}
