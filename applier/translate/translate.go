// Package translate turns oplog entries into the executor's ops
// (Translator): document writes by _id, commands as barriers, transactions
// held until their commit, collections followed by UUID through a
// catalog so that renames and drops inside a replay window land where the
// source's did.
package translate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/update"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/projection"
	"github.com/mongo-sync/mongo-sync/internal/slab"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Translator turns oplog entries into idempotent destination ops. It keeps
// the transactions whose commit it has not seen yet. One goroutine uses it.
type Translator struct {
	NS *config.Namespaces // nil: every non-internal namespace, unrenamed
	// Catalog, if set, routes entries by their collection's UUID (ui):
	// writes logged before a rename land where the collection lives now.
	Catalog Catalog
	Rec     *status.Recorder
	Log     logrus.FieldLogger
	// ShardCollections (sync.shard_collections) shards a destination
	// collection when the source logs that it sharded it (shardcoll.go).
	ShardCollections bool
	// Elsewhere, for one shard of a sharded source replayed in one
	// process, lists the collection UUIDs the other shards' catalogs place
	// at a destination namespace now: a plain drop of a collection another
	// shard has since re-created under a new UUID is not applied
	// (moved.go). Nil: a replica set.
	Elsewhere func(ns string) ([][]byte, error)
	// Resharding, beside Elsewhere, reports whether any shard's state file
	// records a resharding of collection orig under way: a plain drop of
	// it is then a donor's, and not applied (resharding.go). Nil: none.
	Resharding func(orig []byte) (bool, error)
	// ReplicaSet says the source is a replica set of its own, no shard of a
	// sharded cluster (config.Config.Shard is empty): its inserts, updates
	// and deletes logged with fromMigrate (cloneCollectionAsCapped's copies,
	// a 4.2 rename's across databases) are applied like any other
	// (reader/filter.go says what logs them). Unset, they are a chunk
	// migration's and skipped, convertToCapped's copies excepted.
	ReplicaSet bool
	// Hold, if set, names the namespaces this translator leaves to another
	// while a copy of namespaces added to the selection runs (package
	// pipeline, add.go): their entries pass as if not selected, and an
	// entry that names both sides is a *JoinError. Nil: none.
	Hold *config.Addition

	txns map[string]*txn
	cat  *catalog

	names map[string]string // interned namespaces: one string per namespace
	last  route             // the namespace of the previous write
	docs  slab.Slab         // built update documents are carved from it
	sink  update.Sink       // reused by every $v:2 diff

	containerSeen map[string]bool // container write kinds logged (containerOp)
}

// NewTranslator returns a translator for the namespace rules ns.
func NewTranslator(ns *config.Namespaces) *Translator {
	return &Translator{NS: ns, txns: map[string]*txn{}, names: map[string]string{}, docs: slab.Slab{Size: 64 << 10}}
}

// Release says the ops translated so far are done with: the update
// documents built for them are overwritten by the next ones. Without it,
// every op's document stays as built.
func (t *Translator) Release() { t.docs.Rewind() }

// AppendOps appends the ops of one spooled entry to dst. On error dst is
// returned as it was, and the error names the entry.
func (t *Translator) AppendOps(dst []exec.Op, seq uint64, ts bson.Timestamp, raw bson.Raw) ([]exec.Op, error) {
	n := len(dst)
	out, err := t.entry(dst, seq, ts, raw, true)
	if err != nil {
		var ee *exec.EntryError
		if errors.As(err, &ee) {
			return dst[:n], err
		}
		ns, _ := raw.Lookup("ns").StringValueOK()
		return dst[:n], &exec.EntryError{Seq: seq, TS: ts, NS: ns, Err: err}
	}
	return out, nil
}

// entry appends the ops of an entry, or of an inner op of applyOps (top ==
// false), to dst.
func (t *Translator) entry(dst []exec.Op, seq uint64, ts bson.Timestamp, raw bson.Raw, top bool) ([]exec.Op, error) {
	h, err := oplog.ParseHeader(raw)
	if err != nil {
		return dst, err
	}
	op, o := string(h.Op), h.O // string(h.Op) in a switch does not allocate
	switch {
	case len(op) == 0:
		return dst, fmt.Errorf("entry has no op field")
	case op == "ci" || op == "cu" || op == "cd":
		t.containerOp(seq, ts, op)
		return dst, nil
	case len(h.NS) == 0 && op != "n":
		return dst, fmt.Errorf("entry has no ns field")
	case h.FromMigrate && t.ReplicaSet && (op == "u" || op == "d"):
		// A replica set logs fromMigrate inserts only (cloneCollectionAsCapped,
		// a 4.2 rename across databases); updates and deletes so marked
		// are a shard's (a migration's range deletion): fail closed.
		return dst, fmt.Errorf("a %s logged with fromMigrate: only a shard's chunk migrations log those, so this source, "+
			"read as a replica set of its own, is a shard (or became one); its migrations' writes cannot be told from its own. "+
			"Everything before this entry is applied. Sync the cluster instead: src its mongos, with src.shards naming every shard "+
			"(README: Sharded clusters)", map[string]string{"u": "update", "d": "delete"}[op])
	case h.FromMigrate && !t.ownWrite(op, h.NS):
		ops, err := t.migrated(seq, ts, op, t.intern(h.NS), o, raw, top)
		return append(dst, ops...), err
	case o == nil && op != "n":
		return dst, fmt.Errorf("entry has no o document")
	}
	switch op {
	case "n":
		if t.ShardCollections && h.O2 != nil {
			ops, err := t.shardCollection(seq, ts, h.O2)
			return append(dst, ops...), err
		}
		return dst, nil
	case "i", "u", "d":
		if t.ReplicaSet && oplog.ShardIdentityWrite(op, string(h.NS), o, h.O2) {
			return dst, becameShard(op, o)
		}
		return t.crud(dst, seq, ts, op[0], t.intern(h.NS), o, h.O2, h.UI)
	case "c":
		ops, err := t.command(seq, ts, t.intern(h.NS), o, raw, top)
		return append(dst, ops...), err
	}
	return dst, fmt.Errorf("unknown op %q", op)
}

// becameShard is the error at the entry that made the source replica set a
// shard (oplog.ShardIdentityWrite): its later fromMigrate writes are chunk
// migrations', which a replica set's sync would apply as its own.
func becameShard(op string, o bson.Raw) error {
	name, cluster := "?", "?"
	doc := o
	if set, ok := o.Lookup("$set").DocumentOK(); ok && op == "u" {
		doc = set
	}
	if s, ok := doc.Lookup("shardName").StringValueOK(); ok {
		name = s
	}
	if id, ok := doc.Lookup("clusterId").ObjectIDOK(); ok {
		cluster = id.Hex()
	}
	return fmt.Errorf("the source became a shard (%s of cluster %s): from here on its chunk migrations' copies and deletes, "+
		"logged with fromMigrate, cannot be told from its own writes; everything before this entry is applied. "+
		"Sync the cluster instead: src its mongos, with src.shards naming every shard (README: Sharded clusters)", name, cluster)
}

// ownWrite reports a write logged with fromMigrate that is the source's
// own, applied as any write: on a replica set of its own every insert
// (ReplicaSet; its fromMigrate updates and deletes stop the translator,
// above); on a shard a write into the collection convertToCapped copies
// into (config.CappedCopy).
func (t *Translator) ownWrite(op string, ns []byte) bool {
	if op != "i" && op != "u" && op != "d" {
		return false
	}
	if t.ReplicaSet {
		return op == "i"
	}
	_, coll, _ := bytes.Cut(ns, []byte{'.'})
	return config.CappedCopy(string(coll))
}

// containerOp passes over a container write (op ci, cu or cd: newer servers
// log raw key/value records of a storage-engine table, such as the keys of
// an index built on the primary or the fast-count store). They name the
// source node's own tables: the destination builds its indexes and counts
// itself, from the commands the oplog also logs. The first of each kind in
// a run is logged.
func (t *Translator) containerOp(seq uint64, ts bson.Timestamp, op string) {
	if t.containerSeen[op] {
		return
	}
	if t.containerSeen == nil {
		t.containerSeen = map[string]bool{}
	}
	t.containerSeen[op] = true
	if t.Log != nil {
		t.Log.WithFields(logrus.Fields{"seq": seq, "ts": oplog.FormatTS(ts), "op": op}).
			Info("container writes (storage-internal records of the source node) are not applied: the destination builds its own indexes and counts")
	}
}

// intern returns ns as a string, allocated once per namespace.
func (t *Translator) intern(ns []byte) string {
	if string(ns) == t.last.ns { // a run of writes to one namespace
		return t.last.ns
	}
	if s, ok := t.names[string(ns)]; ok {
		return s
	}
	s := string(ns)
	if len(t.names) < 1<<16 {
		t.names[s] = s
	}
	return s
}

// target maps a source namespace; ok is false when it is not synced.
func (t *Translator) target(ns string) (string, bool) {
	db, coll := config.SplitNS(ns)
	if t.NS == nil {
		return ns, !config.Internal(db, coll)
	}
	if !t.NS.Selected(db, coll) && !t.bucketsSelected(db, coll) {
		return "", false
	}
	if t.held(db, coll) {
		return "", false
	}
	return t.NS.MapNS(ns), true
}

// held reports whether the source collection db.coll (or the time-series
// collection whose buckets it is) is the other side's of a Hold.
func (t *Translator) held(db, coll string) bool {
	if t.Hold == nil {
		return false
	}
	if name, ok := strings.CutPrefix(coll, config.BucketsPrefix); ok && name != "" {
		coll = name
	}
	return t.Hold.Held(db, coll)
}

// heldDest reports whether destination namespace ns is where a collection
// the other side of a Hold applies is synced to.
func (t *Translator) heldDest(ns string) bool {
	return t.Hold != nil && t.Hold.HeldDest(ns)
}

func (t *Translator) fields(ns string) []string {
	if t.NS == nil {
		return nil
	}
	return t.NS.Fields(ns)
}

// route is where the writes of a source namespace go.
type route struct {
	ns, db, dst   string
	synced        bool
	fields        []string
	legacyIndexes bool // <db>.system.indexes: inserts are index builds
	views         bool // <db>.system.views: writes are view DDL (views.go)
}

// routeOf is ns's route, computed once per run of writes to ns.
func (t *Translator) routeOf(ns string) *route {
	if t.last.ns == ns && ns != "" {
		return &t.last
	}
	db, coll := config.SplitNS(ns)
	dst, ok := t.target(ns)
	t.last = route{ns: ns, db: db, dst: dst, synced: ok, fields: t.fields(ns), legacyIndexes: coll == "system.indexes", views: coll == systemViews}
	return &t.last
}

func (t *Translator) crud(dst []exec.Op, seq uint64, ts bson.Timestamp, op byte, ns string, o, o2 bson.Raw, ui []byte) ([]exec.Op, error) {
	r := t.routeOf(ns)
	if op == 'i' && r.legacyIndexes {
		ops, err := t.legacyIndex(seq, ts, r.db, o)
		return append(dst, ops...), err
	}
	if r.views {
		ops, err := t.viewWrite(seq, ts, op, r.db, o, o2)
		return append(dst, ops...), err
	}
	if !r.synced {
		return dst, nil
	}
	fields := r.fields
	base := exec.Op{Seq: seq, TS: ts, NS: r.dst}
	if ui != nil && t.Catalog != nil {
		c, err := t.catalog()
		if err != nil {
			return dst, err
		}
		where, live := c.where(ui, r.dst)
		if live && where == r.dst && c.holder(r.dst) == "" { // ui unknown
			if c.gone(ui, ts) {
				live = false // dropped on the source: its writes come from a replay
			} else if live, err = t.liveElsewhere(ui, r.dst); err != nil {
				return dst, err
			}
		}
		if !live {
			t.superseded(seq, ts, ns, "write skipped")
			return dst, nil
		}
		if where != r.dst {
			if t.heldDest(where) {
				return dst, nil // the other side's (a Hold)
			}
			base.NS = t.intern([]byte(where))
		}
	}
	switch op {
	case 'i':
		id, ok := oplog.DocID(o)
		if !ok {
			return dst, fmt.Errorf("insert without _id")
		}
		base.ID = id
		doc, err := projected(o, fields)
		if err != nil {
			return dst, err
		}
		base.Kind, base.Doc = exec.KindInsert, doc
		return append(dst, base), nil
	case 'd':
		id, ok := oplog.DocID(o)
		if !ok {
			return dst, fmt.Errorf("delete without _id")
		}
		base.ID, base.Kind, base.Key = id, exec.KindDelete, exec.Logged(loggedKey(o, id))
		return append(dst, base), nil
	}
	if o2 == nil {
		return dst, fmt.Errorf("update without o2")
	}
	id, ok := oplog.DocID(o2)
	if !ok {
		return dst, fmt.Errorf("update without o2._id")
	}
	base.ID, base.Key = id, exec.Logged(loggedKey(o2, id))
	shape := shapeOf(o)
	if shape.hasID {
		// A replacement, whatever else it holds.
		doc, err := projected(o, fields)
		if err != nil {
			return dst, err
		}
		return replacement(dst, base, doc), nil
	}
	if shape.version == 2 {
		diff, ok := oplog.DocOK(bsoncore.Value{Type: bsoncore.Type(shape.diff.Type), Data: shape.diff.Value})
		if !ok {
			return dst, fmt.Errorf("$v:2 update without a diff document")
		}
		return t.delta(dst, base, diff, fields)
	}
	if img, ok := postImage(o); ok {
		doc, err := projected(img, fields)
		if err != nil {
			return dst, err
		}
		return replacement(dst, base, doc), nil
	}
	update, err := modifiers(o, fields)
	if err != nil {
		return dst, err
	}
	if len(update) == 0 {
		return dst, nil // every path was projected away
	}
	raw, err := bson.Marshal(update)
	if err != nil {
		return dst, err
	}
	base.Kind, base.Doc = exec.KindUpdate, raw
	return append(dst, base), nil
}

// updateShape is what the top level of an update's o holds.
type updateShape struct {
	hasID   bool          // _id: a replacement
	version int64         // $v
	diff    bson.RawValue // diff ($v:2)
}

// shapeOf reads the top level of an update's o in one pass.
func shapeOf(o bson.Raw) updateShape {
	if diff, ok := oplog.V2Diff(o); ok {
		return updateShape{version: 2, diff: bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: diff}}
	}
	return shapeWalk(o)
}

// shapeWalk is shapeOf for any o, by a walk of its fields.
func shapeWalk(o bson.Raw) updateShape {
	var s updateShape
	it := oplog.ElementsOf(o)
	for it.Next() {
		// Compares, not a switch on the string (see parseHeader).
		if k := it.Key(); string(k) == "_id" {
			s.hasID = true
		} else if string(k) == "$v" {
			v := it.Val()
			s.version, _ = bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}.AsInt64OK()
		} else if string(k) == "diff" {
			v := it.Val()
			s.diff = bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}
		}
	}
	return s
}

// delta translates a $v:2 diff: to $set/$unset when it can, else to a
// replacement computed from the destination's current document.
func (t *Translator) delta(dst []exec.Op, base exec.Op, diff bson.Raw, fields []string) ([]exec.Op, error) {
	sink := &t.sink
	sink.Reset()
	err := update.DiffToUpdate(diff, sink)
	switch {
	case errors.Is(err, update.ErrNeedsDocument):
		var d bson.D
		if err := bson.Unmarshal(diff, &d); err != nil {
			return dst, fmt.Errorf("diff: %w", err)
		}
		base.Kind = exec.KindReplace
		id := base.ID
		base.Fetch = func(cur bson.Raw) (bson.Raw, error) {
			// A missing document is {_id}, as in mongod's oplog
			// application (the same as the upserts of the $set path).
			doc := bson.D{{Key: "_id", Value: id}}
			if cur != nil {
				doc = nil
				if err := bson.Unmarshal(cur, &doc); err != nil {
					return nil, err
				}
			}
			out, err := update.ApplyDiff(doc, d)
			if err != nil {
				return nil, err
			}
			raw, err := bson.Marshal(out)
			if err != nil {
				return nil, err
			}
			return projected(raw, fields)
		}
		return append(dst, base), nil
	case err != nil:
		return dst, fmt.Errorf("diff: %w", err)
	}
	set, unset := sink.Set, sink.Unset
	if fields != nil {
		if set, err = projection.RawPaths(set, fields); err != nil {
			return dst, err
		}
		if unset, err = projection.RawPaths(unset, fields); err != nil {
			return dst, err
		}
	}
	if len(set) == 0 && len(unset) == 0 {
		return dst, nil
	}
	base.Kind, base.Doc = exec.KindUpdate, updateDoc(t.docs.Alloc(updateDocLen(set, unset)), set, unset)
	base.FromDiff = true
	return append(dst, base), nil
}

// modifiers copies a $v:1 (or pre-3.6) modifier update without $v.
func modifiers(o bson.Raw, fields []string) (bson.D, error) {
	elems, err := o.Elements()
	if err != nil {
		return nil, err
	}
	var update bson.D
	for _, el := range elems {
		k := el.Key()
		if k == "$v" {
			continue
		}
		if len(k) == 0 || k[0] != '$' {
			return nil, fmt.Errorf("update field %q is neither a modifier nor part of a replacement", k)
		}
		args, ok := el.Value().DocumentOK()
		if !ok {
			return nil, fmt.Errorf("modifier %s is not a document", k)
		}
		var paths bson.D
		if err := bson.Unmarshal(args, &paths); err != nil {
			return nil, err
		}
		if paths = projection.Paths(paths, fields); len(paths) > 0 {
			update = append(update, bson.E{Key: k, Value: paths})
		}
	}
	return update, nil
}

// postImage recognizes an update logged as {$set: <whole document>}: a
// $set that holds _id (mongod never logs _id in $set; FerretDB logs every
// update this way). Applying it as a $set would keep fields the update
// removed, so it is a replacement by that document.
func postImage(o bson.Raw) (bson.Raw, bool) {
	elems, err := o.Elements()
	if err != nil {
		return nil, false
	}
	var set bson.Raw
	for _, el := range elems {
		switch el.Key() {
		case "$v":
		case "$set":
			set, _ = el.Value().DocumentOK()
		default:
			return nil, false
		}
	}
	if set == nil {
		return nil, false
	}
	if _, err := set.LookupErr("_id"); err != nil {
		return nil, false
	}
	return set, true
}

// updateDocLen is the length of updateDoc(set, unset).
func updateDocLen(set, unset []byte) int {
	n := 5
	if len(set) > 0 {
		n += 1 + len("$set") + 1 + 5 + len(set)
	}
	if len(unset) > 0 {
		n += 1 + len("$unset") + 1 + 5 + len(unset)
	}
	return n
}

// updateDoc appends {$set: {set...}, $unset: {unset...}} from raw elements
// to dst, leaving out an empty part.
func updateDoc(dst, set, unset []byte) bson.Raw {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendPart(dst, "$set", set)
	dst = appendPart(dst, "$unset", unset)
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst[start:]
}

// appendPart appends the element op: {elems...}, nothing for no elems.
func appendPart(dst []byte, op string, elems []byte) []byte {
	if len(elems) == 0 {
		return dst
	}
	dst = append(dst, byte(bsoncore.TypeEmbeddedDocument))
	dst = append(dst, op...)
	dst = append(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(4+len(elems)+1))
	dst = append(dst, elems...)
	return append(dst, 0)
}

// replacement appends the op writing doc as the whole document base.ID.
func replacement(dst []exec.Op, base exec.Op, doc bson.Raw) []exec.Op {
	base.Kind, base.Doc = exec.KindReplace, doc
	return append(dst, base)
}

// projected is doc with only the synced fields, as raw BSON.
func projected(doc bson.Raw, fields []string) (bson.Raw, error) {
	if fields == nil {
		return doc, nil
	}
	return bson.Marshal(projection.Doc(doc, fields))
}

// loggedKey is the document key an entry logged (o2 of an update, o of a
// delete) when it holds more than the _id id; nil otherwise. A sharded
// source logs its shard key there. The check costs no parsing: a key of
// _id alone is exactly as long as {_id: id}.
func loggedKey(doc bson.Raw, id bson.RawValue) bson.Raw {
	if len(doc) == 4+1+len("_id")+1+len(id.Value)+1 {
		return nil
	}
	return doc
}
