package translate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/update"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/ddl"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// command translates a command entry (ns "<db>.$cmd").
func (t *Translator) command(seq uint64, ts bson.Timestamp, ns string, o, raw bson.Raw, top bool) ([]exec.Op, error) {
	db, _ := config.SplitNS(ns)
	elems, err := o.Elements()
	if err != nil || len(elems) == 0 {
		return nil, fmt.Errorf("command entry with an empty o")
	}
	name := elems[0].Key()
	switch name {
	case "applyOps":
		return t.applyOps(seq, ts, o, raw, top)
	case "commitTransaction":
		return t.commitPrepared(seq, ts, raw)
	case "abortTransaction":
		t.abort(raw)
		return nil, nil
	}
	if ddl.ChangesNothing(name) {
		return nil, nil
	}
	coll, _ := elems[0].Value().StringValueOK()
	cat, err := t.catalog()
	if err != nil {
		return nil, err
	}
	ui := uuidOf(raw)
	if cat == nil {
		ui = nil
	}
	if cat.gone(ui, ts) {
		// Dropped on the source after this entry, by a drop this shard
		// only followed in its catalog: a replay, with no place to go.
		t.superseded(seq, ts, ns, name+" skipped")
		return nil, nil
	}
	if name == "dropDatabase" {
		if !t.dbSelected(db) {
			return nil, nil
		}
		if t.Hold != nil && t.Hold.HeldIn(db) {
			if t.Hold.KeptIn(db) {
				return nil, &JoinError{Seq: seq, TS: ts, What: "dropDatabase " + db + " drops namespaces of both sides"}
			}
			return nil, nil // the other side's
		}
		dst := t.mapDB(db)
		op := t.cmdOp(seq, ts, dst+".$cmd", "dropDatabase", dst, bson.D{{Key: "dropDatabase", Value: 1}}, mongoerr.NamespaceNotFound)
		return []exec.Op{after(op, cat.forgetDB(dst, false, ts))}, nil
	}
	if name == "renameCollection" {
		return t.rename(seq, ts, o, ui, cat)
	}
	if coll == "" {
		return nil, fmt.Errorf("command %s without a collection name", name)
	}
	if orig := reshardingOf(coll); orig != nil && (name == "create" || name == "drop") {
		return t.reshardingMark(seq, ts, db+"."+coll, orig, uuidOf(raw), name == "create", cat), nil
	}
	if coll == systemViews && name == "create" {
		// The destination makes its own system.views with its first view
		// (views.go); users may not create it on 5.0+.
		return nil, nil
	}
	dstNS, ok := t.target(db + "." + coll)
	if !ok {
		if _, known := cat.known(ui); !known {
			return nil, nil
		}
	}
	if name == "create" {
		if _, known := cat.known(ui); known {
			// Already created (the copy, or a replay), maybe renamed since.
			t.Rec.ReapplyNoop(exec.ReasonDDLDone)
			return nil, nil
		}
	}
	where, live := cat.where(ui, dstNS)
	if !live {
		t.superseded(seq, ts, dstNS, name+" skipped")
		return nil, nil
	}
	if t.heldDest(where) {
		return nil, nil // the other side's (a Hold)
	}
	dstNS = where
	dstDB, dstColl := config.SplitNS(dstNS)
	switch name {
	case "create":
		if o.Lookup("timeseries").Type != 0 {
			op, err := t.timeseriesCreate(seq, ts, dstNS, o)
			if err != nil {
				return nil, err
			}
			return []exec.Op{after(op, cat.set(ui, dstNS))}, nil
		}
		cmd := bson.D{{Key: "create", Value: dstColl}}
		for _, e := range elems[1:] {
			if k := e.Key(); k != "idIndex" && !ddl.SourceStorageOption(k) {
				cmd = append(cmd, bson.E{Key: k, Value: e.Value()})
			}
		}
		return []exec.Op{after(t.cmdOp(seq, ts, dstNS, name, dstDB, cmd, mongoerr.NamespaceExists), cat.set(ui, dstNS))}, nil
	case "drop":
		op := t.cmdOp(seq, ts, dstNS, name, dstDB, bson.D{{Key: "drop", Value: dstColl}}, mongoerr.NamespaceNotFound)
		return []exec.Op{after(t.unlessMoved(op, ui), cat.forget(ui))}, nil
	case "createIndexes":
		spec := bson.D{}
		for _, e := range elems[1:] {
			spec = append(spec, bson.E{Key: e.Key(), Value: e.Value()})
		}
		return []exec.Op{t.indexOp(seq, ts, dstNS, dstDB, dstColl, bson.A{spec})}, nil
	case "commitIndexBuild":
		specs, ok := o.Lookup("indexes").ArrayOK()
		if !ok {
			return nil, fmt.Errorf("commitIndexBuild without indexes")
		}
		vals, _ := specs.Values()
		arr := bson.A{}
		for _, v := range vals {
			arr = append(arr, v)
		}
		return []exec.Op{t.indexOp(seq, ts, dstNS, dstDB, dstColl, arr)}, nil
	case "dropIndexes", "deleteIndexes", "dropIndex", "deleteIndex":
		idx := o.Lookup("index")
		if idx.Type == 0 {
			return nil, fmt.Errorf("%s without index", name)
		}
		cmd := bson.D{{Key: "dropIndexes", Value: dstColl}, {Key: "index", Value: idx}}
		return []exec.Op{t.cmdOp(seq, ts, dstNS, name, dstDB, cmd, mongoerr.IndexNotFound, mongoerr.NamespaceNotFound)}, nil
	case "collMod":
		cmd := bson.D{{Key: "collMod", Value: dstColl}}
		for _, e := range elems[1:] {
			cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
		}
		return []exec.Op{t.cmdOp(seq, ts, dstNS, name, dstDB, cmd, mongoerr.IndexNotFound, mongoerr.NamespaceNotFound)}, nil
	}
	if why := ddl.Unreplayable(name); why != "" {
		return nil, fmt.Errorf("command %s on %s cannot be replayed: %s; copy the collection again (a fresh sync of it) to bring the destination in line", name, dstNS, why)
	}
	return nil, fmt.Errorf("unknown command %q", name)
}

func (t *Translator) dbSelected(db string) bool {
	if t.NS == nil {
		return !config.Internal(db, "")
	}
	return t.NS.DBSelected(db)
}

func (t *Translator) mapDB(db string) string {
	if t.NS == nil {
		return db
	}
	return t.NS.MapDB(db)
}

// rename maps both namespaces. Renaming into an unsynced namespace drops the
// source; renaming from one into a synced one cannot be replayed (its data
// was never synced) and is an error, unless the catalog knows the
// collection. With the catalog (collections by UUID), a replayed rename
// never destroys documents newer than its entry: a rename whose collection
// already lives at the target is done, and one whose target now holds a
// collection other than the one it dropped was superseded by a later
// entry and is skipped.
func (t *Translator) rename(seq uint64, ts bson.Timestamp, o bson.Raw, ui []byte, cat *catalog) ([]exec.Op, error) {
	from, _ := o.Lookup("renameCollection").StringValueOK()
	to, _ := o.Lookup("to").StringValueOK()
	if from == "" || to == "" {
		return nil, fmt.Errorf("renameCollection without renameCollection/to")
	}
	src, srcOK := t.target(from)
	dst, dstOK := t.target(to)
	if t.Hold != nil {
		fromDB, fromColl := config.SplitNS(from)
		toDB, toColl := config.SplitNS(to)
		fromHeld, toHeld := t.held(fromDB, fromColl), t.held(toDB, toColl)
		if (srcOK && toHeld) || (fromHeld && dstOK) {
			return nil, &JoinError{Seq: seq, TS: ts, What: "renameCollection " + from + " -> " + to + " crosses between the two sides",
				FromHeld: fromHeld, UI: ui}
		}
		if fromHeld || toHeld {
			return nil, nil // the other side's
		}
	}
	dropTarget, dropUI := false, []byte(nil)
	switch v := o.Lookup("dropTarget"); v.Type {
	case bson.TypeBoolean:
		dropTarget = v.Boolean()
	case bson.TypeBinary:
		dropTarget = true // the UUID of the dropped target
		dropUI = oplog.BinaryUUID(bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
	}
	if cat == nil {
		ui, dropUI = nil, nil
	}
	if orig := reshardingTemp(from); orig != nil && !srcOK {
		return t.reshardingRenamed(seq, ts, from, to, dst, dstOK, orig, ui, dropUI, cat)
	}
	if where, known := cat.known(ui); known {
		if t.heldDest(where) {
			return nil, nil // the other side's (a Hold)
		}
		if dstOK && where == dst {
			t.Rec.ReapplyNoop(exec.ReasonDDLDone) // renamed already (the copy saw it, or a replay)
			return t.dropElsewhere(seq, ts, dropUI, dst, cat), nil
		}
		src, srcOK = where, true
	} else if h := cat.holder(src); h != "" && ui != nil {
		t.superseded(seq, ts, src, "renameCollection skipped")
		return t.dropElsewhere(seq, ts, dropUI, dst, cat), nil
	}
	if h := cat.holder(dst); dstOK && h != "" && h != string(ui) && h != string(dropUI) {
		t.superseded(seq, ts, dst, "renameCollection skipped (its target holds a newer collection)")
		return t.dropElsewhere(seq, ts, dropUI, dst, cat), nil
	}
	switch {
	case !srcOK && !dstOK:
		return nil, nil
	case srcOK && !dstOK:
		db, coll := config.SplitNS(src)
		op := t.cmdOp(seq, ts, src, "renameCollection (out of the sync: drop)", db, bson.D{{Key: "drop", Value: coll}}, mongoerr.NamespaceNotFound)
		return []exec.Op{after(op, cat.forget(ui))}, nil
	case !srcOK && dstOK:
		return nil, fmt.Errorf("renameCollection %s -> %s: the source namespace is not synced, its documents are unknown", from, to)
	}
	cmd := bson.D{{Key: "renameCollection", Value: src}, {Key: "to", Value: dst}, {Key: "dropTarget", Value: dropTarget}}
	tolerate := []int{mongoerr.NamespaceNotFound}
	if !dropTarget {
		tolerate = append(tolerate, mongoerr.NamespaceExists)
	}
	op := t.cmdOp(seq, ts, src, "renameCollection", "admin", cmd, tolerate...)
	if dropTarget {
		plain := bson.D{{Key: "renameCollection", Value: src}, {Key: "to", Value: dst}}
		op.Cmd = dropThenRename(op.Cmd, t.cmdOp(seq, ts, src, "renameCollection", "admin", plain, mongoerr.NamespaceNotFound).Cmd, src, dst)
	}
	run := op.Cmd
	op.Cmd = func(ctx context.Context, c *mongo.Client) error {
		err := run(ctx, c)
		if err == nil || errors.Is(err, exec.ErrAlreadyApplied) {
			return &exec.RenamedError{From: src, To: dst, Err: err}
		}
		return err
	}
	return []exec.Op{after(op, cat.forget(dropUI), cat.set(ui, dst))}, nil
}

// dropElsewhere drops the collection a skipped rename dropped on the
// source (dropTarget's UUID), when the catalog places it at a namespace
// other than the rename's target: a replayed create put it there, and no
// later entry names it again.
func (t *Translator) dropElsewhere(seq uint64, ts bson.Timestamp, dropUI []byte, target string, cat *catalog) []exec.Op {
	where, known := cat.known(dropUI)
	if !known || where == target {
		return nil
	}
	db, coll := config.SplitNS(where)
	op := t.cmdOp(seq, ts, where, "renameCollection (its dropped target lives elsewhere: drop)", db, bson.D{{Key: "drop", Value: coll}}, mongoerr.NamespaceNotFound)
	return []exec.Op{after(op, cat.forget(dropUI))}
}

// dropThenRename runs rename, a renameCollection with dropTarget; a server
// that does not implement dropTarget (the test server) gets the target
// dropped first and a plain rename. A crash between the two leaves the
// target gone and the source whole, and the replayed entry renames it.
func dropThenRename(rename, plain func(context.Context, *mongo.Client) error, source, target string) func(context.Context, *mongo.Client) error {
	return func(ctx context.Context, c *mongo.Client) error {
		err := rename(ctx, c)
		var se mongo.ServerError
		if err == nil || !errors.As(err, &se) || !se.HasErrorCode(mongoerr.NotImplemented) {
			return err
		}
		// As renameCollection does: a missing source drops nothing.
		srcDB, srcColl := config.SplitNS(source)
		names, err := c.Database(srcDB).ListCollectionNames(ctx, bson.D{{Key: "name", Value: srcColl}})
		if err != nil {
			return fmt.Errorf("look up the rename's source %s: %w", source, err)
		}
		if len(names) == 0 {
			return fmt.Errorf("%w: the rename's source %s does not exist", exec.ErrAlreadyApplied, source)
		}
		db, coll := config.SplitNS(target)
		if err := c.Database(db).Collection(coll).Drop(ctx); err != nil {
			return fmt.Errorf("drop the rename's target %s: %w", target, err)
		}
		return plain(ctx, c)
	}
}

// legacyIndex replays a <=3.4 index build (an insert into system.indexes).
func (t *Translator) legacyIndex(seq uint64, ts bson.Timestamp, db string, spec bson.Raw) ([]exec.Op, error) {
	ns, _ := spec.Lookup("ns").StringValueOK()
	dstNS, ok := t.target(ns)
	if !ok {
		return nil, nil
	}
	dstDB, dstColl := config.SplitNS(dstNS)
	var d bson.D
	if err := bson.Unmarshal(spec, &d); err != nil {
		return nil, err
	}
	return []exec.Op{t.indexOp(seq, ts, dstNS, dstDB, dstColl, bson.A{update.Remove(d, "ns")})}, nil
}

func (t *Translator) indexOp(seq uint64, ts bson.Timestamp, ns, db, coll string, specs bson.A) exec.Op {
	for i, s := range specs {
		specs[i] = cleanIndexSpec(s)
	}
	op := exec.Op{Seq: seq, TS: ts, NS: ns, Desc: "createIndexes"}
	op.Cmd = func(ctx context.Context, c *mongo.Client) error {
		collated, err := hasDefaultCollation(ctx, c, db, coll)
		if err != nil {
			return fmt.Errorf("read the default collation of %s: %w", ns, err)
		}
		cmd := indexCommand(coll, specs, collated)
		err = t.cmdOp(seq, ts, ns, "createIndexes", db, cmd, mongoerr.IndexAlreadyExists).Cmd(ctx, c)
		if mongoerr.DuplicateKey(err) {
			raw, merr := bson.Marshal(cmd)
			if merr != nil {
				return merr
			}
			return &exec.IndexConflictError{Build: &exec.IndexBuild{DB: db, Cmd: raw, Names: indexNames(specs)}, Err: err}
		}
		return err
	}
	return op
}

// indexCommand is the createIndexes command for specs (cleaned by
// cleanIndexSpec) on coll, whose default collation, if it has one
// (collated), the specs without a collation must not take: see
// ddl.SimpleCollation.
func indexCommand(coll string, specs bson.A, collated bool) bson.D {
	arr := make(bson.A, len(specs))
	for i, s := range specs {
		if d, ok := s.(bson.D); ok {
			arr[i] = ddl.SimpleCollation(d, collated)
		} else {
			arr[i] = s
		}
	}
	return bson.D{{Key: "createIndexes", Value: coll}, {Key: "indexes", Value: arr}}
}

// hasDefaultCollation reports whether the destination collection db.coll
// has a default collation. A collection not there yet has none: the
// createIndexes creates it without one.
func hasDefaultCollation(ctx context.Context, c *mongo.Client, db, coll string) (bool, error) {
	specs, err := c.Database(db).ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil || len(specs) == 0 {
		return false, err
	}
	return ddl.HasDefaultCollation(specs[0].Options), nil
}

// indexNames lists the names of index specs, for messages.
func indexNames(specs bson.A) string {
	var names []string
	for _, s := range specs {
		if d, ok := s.(bson.D); ok {
			if i := update.Index(d, "name"); i >= 0 {
				switch n := d[i].Value.(type) {
				case string:
					names = append(names, n)
				case bson.RawValue:
					s, _ := n.StringValueOK()
					names = append(names, s)
				default:
					names = append(names, fmt.Sprint(n))
				}
				continue
			}
		}
		names = append(names, fmt.Sprint(s))
	}
	return strings.Join(names, ",")
}

// cmdOp runs cmd on db; the codes listed mean the command already took
// effect (a replay) and count as success (exec.ErrAlreadyApplied).
func (t *Translator) cmdOp(seq uint64, ts bson.Timestamp, ns, desc, db string, cmd bson.D, tolerate ...int) exec.Op {
	return exec.Op{Seq: seq, TS: ts, NS: ns, Desc: desc, Cmd: func(ctx context.Context, c *mongo.Client) error {
		err := c.Database(db).RunCommand(ctx, cmd).Err()
		var se mongo.ServerError
		if err != nil && errors.As(err, &se) {
			for _, code := range tolerate {
				if se.HasErrorCode(code) {
					return fmt.Errorf("%w: %v", exec.ErrAlreadyApplied, err)
				}
			}
		}
		return err
	}}
}

// cleanIndexSpec drops what createIndexes does not take from a logged spec
// (ddl.IndexSpecForCreate): the index version (the server picks its
// default), ns, background, and what mongod ignores.
func cleanIndexSpec(spec any) any {
	var d bson.D
	switch s := spec.(type) {
	case bson.D:
		d = s
	case bson.RawValue:
		doc, ok := s.DocumentOK()
		if !ok || bson.Unmarshal(doc, &d) != nil {
			return spec
		}
	case bson.Raw:
		if bson.Unmarshal(s, &d) != nil {
			return spec
		}
	default:
		return spec
	}
	return ddl.IndexSpecForCreate(d)
}

// JoinError is an entry that names namespaces on both sides of a Hold: a
// rename from a namespace one side applies into one the other holds back,
// or a dropDatabase of a database with both. Neither side alone can apply
// it; the applier stops before it, for the two sides to become one
// (package pipeline, add.go), which then applies it.
type JoinError struct {
	Seq  uint64
	TS   bson.Timestamp
	What string
	// FromHeld: a rename from a namespace this translator holds back into
	// one it applies; UI is the renamed collection's UUID (nil: none
	// logged, or no catalog).
	FromHeld bool
	UI       []byte
}

func (e *JoinError) Error() string {
	return e.What + ": it waits until the copy of the added namespaces has caught up with the rest"
}
