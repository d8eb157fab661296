package copier

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// ErrUniqueConflict means a copied document collides with another on a
// unique secondary index of the destination: inserting it anyway is
// impossible, and taking it for "already copied" would lose it.
var ErrUniqueConflict = errors.New("duplicate key on a unique secondary index of the destination")

const codeDuplicateKey = 11000

// dup is what a duplicate-key write error says about its index.
type dup struct {
	known bool   // the server said which index
	id    bool   // it is the _id index: the document is already there
	index string // the index's name (or key pattern)
	key   string // the duplicate key
}

// dupMessage is the index part of MongoDB's E11000 message.
var dupMessage = regexp.MustCompile(`index: (\S+) dup key: (.*)$`)

// readDup reads a duplicate-key write error. MongoDB (4.4+) gives keyPattern
// and keyValue in the write error itself (errInfo on some paths): those come
// first. Only where a server gives nothing structured (older servers) is the
// index read from the message's "index: NAME dup key: {...}". The test
// server (FerretDB) gives neither: known is false, and settleDuplicates asks
// the destination instead.
func readDup(e mongo.WriteError) dup {
	for _, doc := range []bson.Raw{e.Raw, e.Details} {
		kp, ok := lookup(doc, "keyPattern").DocumentOK()
		if !ok {
			continue
		}
		d := dup{known: true, index: relaxed(kp)}
		if m := dupMessage.FindStringSubmatch(e.Message); m != nil {
			d.index = m[1]
		}
		if kv, ok := lookup(doc, "keyValue").DocumentOK(); ok {
			d.key = relaxed(kv)
		}
		elems, _ := kp.Elements()
		d.id = len(elems) == 1 && elems[0].Key() == "_id"
		return d
	}
	if m := dupMessage.FindStringSubmatch(e.Message); m != nil {
		return dup{known: true, id: m[1] == "_id_", index: m[1], key: m[2]}
	}
	return dup{}
}

func lookup(doc bson.Raw, key string) bson.RawValue {
	if len(doc) < 5 {
		return bson.RawValue{}
	}
	return doc.Lookup(key)
}

// settleDuplicates returns nil when the insert's error is made only of
// duplicate _ids: documents an earlier attempt at the range already copied
// (the oplog replay from T0 brings them to their final state). A duplicate
// on any other index is ErrUniqueConflict naming the index, the key and the
// document's _id. Anything else is err itself.
func (c *Copier) settleDuplicates(ctx context.Context, coll *collection, cmd bson.Raw, err error) error {
	var we mongo.WriteException
	if !errors.As(err, &we) || we.WriteConcernError != nil || len(we.WriteErrors) == 0 {
		return err
	}
	for _, e := range we.WriteErrors {
		if e.Code != codeDuplicateKey {
			return err
		}
	}
	docs, derr := cmd.Lookup("documents").Array().Values()
	if derr != nil {
		return fmt.Errorf("%w (reading the insert command back: %v)", err, derr)
	}
	doc := func(e mongo.WriteError) bson.Raw {
		if e.Index < 0 || e.Index >= len(docs) {
			return nil
		}
		return docs[e.Index].Document()
	}
	var unknown []mongo.WriteError
	for _, e := range we.WriteErrors {
		switch d := readDup(e); {
		case !d.known:
			unknown = append(unknown, e)
		case !d.id:
			return conflict(doc(e), d.index, d.key, nil)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	name, _ := cmd.Lookup("insert").StringValueOK()
	dst := c.Dst.Database(coll.dstDB).Collection(name, options.Collection().SetReadPreference(readpref.Primary()))
	// The usual case, a resumed range: every _id is there. The source's
	// _ids are distinct, so as many documents found as asked means all.
	ids := bson.A{}
	for _, e := range unknown {
		ids = append(ids, doc(e).Lookup("_id"))
	}
	n, cerr := dst.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if cerr != nil {
		return fmt.Errorf("%w (looking up the duplicates: %v)", err, cerr)
	}
	if n == int64(len(ids)) {
		return nil
	}
	for _, e := range unknown {
		if cerr := c.findConflict(ctx, dst, doc(e)); cerr != nil {
			return cerr
		}
	}
	return nil
}

// findConflict is nil when the destination holds a document with doc's
// _id, else the conflict on the destination's unique index that refused doc.
func (c *Copier) findConflict(ctx context.Context, dst *mongo.Collection, doc bson.Raw) error {
	id := doc.Lookup("_id")
	err := dst.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("look up duplicate _id %s: %w", relaxedValue(id), err)
	}
	specs, err := dst.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("list indexes to explain a duplicate key: %w", err)
	}
	for _, s := range specs {
		if s.Unique == nil || !*s.Unique || s.Name == "_id_" {
			continue
		}
		fields, _ := s.KeysDocument.Elements()
		filter := bson.D{}
		for _, f := range fields {
			v, err := doc.LookupErr(strings.Split(f.Key(), ".")...)
			if err != nil { // missing: the index holds it as null
				filter = append(filter, bson.E{Key: f.Key(), Value: nil})
				continue
			}
			filter = append(filter, bson.E{Key: f.Key(), Value: v})
		}
		raw, err := dst.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return fmt.Errorf("look up the key of index %s: %w", s.Name, err)
		}
		other := raw.Lookup("_id")
		return conflict(doc, s.Name, relaxed(filter), &other)
	}
	return fmt.Errorf("document _id %s: duplicate key, yet the destination holds neither its _id nor a document with the same key on a unique index: %w", relaxedValue(id), ErrUniqueConflict)
}

// conflict names the index, the key, the document and (when known) the
// document it collides with.
func conflict(doc bson.Raw, index, key string, other *bson.RawValue) error {
	with := ""
	if other != nil {
		with = fmt.Sprintf(" (held by _id %s)", relaxedValue(*other))
	}
	id := "?"
	if doc != nil {
		id = relaxedValue(doc.Lookup("_id"))
	}
	return fmt.Errorf("document _id %s: unique index %s, key %s%s: %w (a destination collection must be empty, without unique indexes the source lacks)", id, index, key, with, ErrUniqueConflict)
}

// relaxed is v as relaxed Extended JSON, for messages.
func relaxed(v any) string {
	b, err := bson.MarshalExtJSON(v, false, false)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// relaxedValue is one value as relaxed Extended JSON.
func relaxedValue(v bson.RawValue) string {
	s := relaxed(bson.D{{Key: "v", Value: v}})
	if t, ok := strings.CutPrefix(s, `{"v":`); ok {
		return strings.TrimSuffix(t, "}")
	}
	return s
}
