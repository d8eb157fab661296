package applier

import (
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/internal/projection"

	"github.com/mongo-sync/mongo-sync/config"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Translator turns oplog entries into idempotent destination ops. It keeps
// the transactions whose commit it has not seen yet.
type Translator struct {
	NS   *config.Namespaces // nil: every non-internal namespace, unrenamed
	txns map[string]*txn
}

// NewTranslator returns a translator for the namespace rules ns.
func NewTranslator(ns *config.Namespaces) *Translator {
	return &Translator{NS: ns, txns: map[string]*txn{}}
}

var errMalformed = errors.New("malformed BSON entry")

// Translate turns one spooled entry into ops.
func (t *Translator) Translate(seq uint64, ts bson.Timestamp, raw bson.Raw) ([]Op, error) {
	ns, _ := raw.Lookup("ns").StringValueOK()
	ops, err := t.entry(seq, ts, raw, true)
	if err != nil {
		var ee *EntryError
		if errors.As(err, &ee) {
			return nil, err
		}
		return nil, &EntryError{Seq: seq, TS: ts, NS: ns, Err: err}
	}
	return ops, nil
}

// entry translates an entry, or an inner op of applyOps (top == false).
func (t *Translator) entry(seq uint64, ts bson.Timestamp, raw bson.Raw, top bool) ([]Op, error) {
	h, err := parseHeader(raw)
	if err != nil {
		return nil, err
	}
	op, ns, o := h.op, h.ns, h.o
	switch {
	case op == "":
		return nil, fmt.Errorf("entry has no op field")
	case ns == "" && op != "n":
		return nil, fmt.Errorf("entry has no ns field")
	case h.fromMigrate:
		return nil, nil
	case o == nil && op != "n":
		return nil, fmt.Errorf("entry has no o document")
	}
	switch op {
	case "n":
		return nil, nil
	case "i", "u", "d":
		return t.crud(seq, ts, op, ns, o, h.o2)
	case "c":
		return t.command(seq, ts, ns, o, raw, top)
	}
	return nil, fmt.Errorf("unknown op %q", op)
}

// target maps a source namespace; ok is false when it is not synced.
func (t *Translator) target(ns string) (string, bool) {
	db, coll := config.SplitNS(ns)
	if t.NS == nil {
		return ns, !config.Internal(db, coll)
	}
	if !t.NS.Selected(db, coll) {
		return "", false
	}
	return t.NS.MapNS(ns), true
}

func (t *Translator) fields(ns string) []string {
	if t.NS == nil {
		return nil
	}
	return t.NS.Fields(ns)
}

func (t *Translator) crud(seq uint64, ts bson.Timestamp, op, ns string, o, o2 bson.Raw) ([]Op, error) {
	db, coll := config.SplitNS(ns)
	if coll == "system.indexes" && op == "i" {
		return t.legacyIndex(seq, ts, db, o)
	}
	dst, ok := t.target(ns)
	if !ok {
		return nil, nil
	}
	fields := t.fields(ns)
	base := Op{Seq: seq, TS: ts, NS: dst}
	switch op {
	case "i":
		id, err := o.LookupErr("_id")
		if err != nil {
			return nil, fmt.Errorf("insert without _id")
		}
		base.ID = id
		doc, err := projected(o, fields)
		if err != nil {
			return nil, err
		}
		ops := replacement(base, id, doc)
		if len(ops) == 1 {
			ops[0].Insert = doc
		}
		return ops, nil
	case "d":
		id, err := o.LookupErr("_id")
		if err != nil {
			return nil, fmt.Errorf("delete without _id")
		}
		base.ID = id
		base.Model = mongo.NewDeleteOneModel().SetFilter(idFilter(id))
		return []Op{base}, nil
	}
	if o2 == nil {
		return nil, fmt.Errorf("update without o2")
	}
	id, err := o2.LookupErr("_id")
	if err != nil {
		return nil, fmt.Errorf("update without o2._id")
	}
	base.ID = id
	if _, err := o.LookupErr("_id"); err == nil {
		// A replacement, whatever else it holds.
		doc, err := projected(o, fields)
		if err != nil {
			return nil, err
		}
		return replacement(base, id, doc), nil
	}
	if v, _ := o.Lookup("$v").AsInt64OK(); v == 2 {
		diff, ok := o.Lookup("diff").DocumentOK()
		if !ok {
			return nil, fmt.Errorf("$v:2 update without a diff document")
		}
		return t.delta(base, diff, fields)
	}
	if img, ok := postImage(o); ok {
		doc, err := projected(img, fields)
		if err != nil {
			return nil, err
		}
		return replacement(base, id, doc), nil
	}
	update, err := modifiers(o, fields)
	if err != nil {
		return nil, err
	}
	if len(update) == 0 {
		return nil, nil // every path was projected away
	}
	base.Model = mongo.NewUpdateOneModel().SetFilter(idFilter(id)).SetUpdate(update).SetUpsert(true)
	return []Op{base}, nil
}

// delta translates a $v:2 diff: to $set/$unset when it can, else to a
// replacement computed from the destination's current document.
func (t *Translator) delta(base Op, diff bson.Raw, fields []string) ([]Op, error) {
	var sink pathSink
	err := diffToUpdate(diff, nil, &sink)
	switch {
	case errors.Is(err, errNeedsDocument):
		var d bson.D
		if err := bson.Unmarshal(diff, &d); err != nil {
			return nil, fmt.Errorf("diff: %w", err)
		}
		id := base.ID
		base.Fetch = func(cur bson.Raw) (mongo.WriteModel, error) {
			if cur == nil {
				return nil, nil // the document is gone: a later delete wins
			}
			var doc bson.D
			if err := bson.Unmarshal(cur, &doc); err != nil {
				return nil, err
			}
			out, err := applyDiff(doc, d)
			if err != nil {
				return nil, err
			}
			raw, err := bson.Marshal(out)
			if err != nil {
				return nil, err
			}
			newDoc, err := projected(raw, fields)
			if err != nil {
				return nil, err
			}
			return mongo.NewReplaceOneModel().SetFilter(idFilter(id)).SetReplacement(newDoc).SetUpsert(true), nil
		}
		return []Op{base}, nil
	case err != nil:
		return nil, fmt.Errorf("diff: %w", err)
	}
	set, unset := sink.set, sink.unset
	if fields != nil {
		if set, err = projection.RawPaths(set, fields); err != nil {
			return nil, err
		}
		if unset, err = projection.RawPaths(unset, fields); err != nil {
			return nil, err
		}
	}
	update := updateDoc(set, unset)
	if update == nil {
		return nil, nil
	}
	base.Model = mongo.NewUpdateOneModel().SetFilter(idFilter(base.ID)).SetUpdate(update).SetUpsert(true)
	return []Op{base}, nil
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

// updateDoc is {$set: {set...}, $unset: {unset...}} from raw elements,
// leaving out empty parts; nil when both are empty.
func updateDoc(set, unset []byte) bson.Raw {
	if len(set) == 0 && len(unset) == 0 {
		return nil
	}
	doc := make([]byte, 0, len(set)+len(unset)+32)
	idx, doc := bsoncore.AppendDocumentStart(doc)
	for _, part := range []struct {
		op    string
		elems []byte
	}{{"$set", set}, {"$unset", unset}} {
		if len(part.elems) == 0 {
			continue
		}
		doc = bsoncore.AppendHeader(doc, bsoncore.TypeEmbeddedDocument, part.op)
		sub, d := bsoncore.AppendDocumentStart(doc)
		d = append(d, part.elems...)
		doc, _ = bsoncore.AppendDocumentEnd(d, sub)
	}
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	return doc
}

// replacement writes doc as the whole document _id. A replacement cannot
// carry top-level $-prefixed field names (5.0+ documents may have them), so
// such a document is deleted and inserted instead, in order, in one bulk.
func replacement(base Op, id bson.RawValue, doc bson.Raw) []Op {
	if hasDollarKey(doc) {
		del, ins := base, base
		del.Model = mongo.NewDeleteOneModel().SetFilter(idFilter(id))
		ins.Model = mongo.NewInsertOneModel().SetDocument(doc)
		return []Op{del, ins}
	}
	base.Model = mongo.NewReplaceOneModel().SetFilter(idFilter(id)).SetReplacement(doc).SetUpsert(true)
	return []Op{base}
}

// projected is doc with only the synced fields, as raw BSON.
func projected(doc bson.Raw, fields []string) (bson.Raw, error) {
	if fields == nil {
		return doc, nil
	}
	return bson.Marshal(projection.Doc(doc, fields))
}
