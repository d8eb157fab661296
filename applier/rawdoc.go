package applier

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Raw BSON builders for the hot path: the driver copies bson.Raw filters
// and updates as bytes, where a bson.D goes through reflection.

// idFilter is {_id: id}.
func idFilter(id bson.RawValue) bson.Raw {
	idx, doc := bsoncore.AppendDocumentStart(make([]byte, 0, 16+len(id.Value)))
	doc = bsoncore.AppendValueElement(doc, "_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	return doc
}

// header is the top level of an oplog entry, read in one pass.
type header struct {
	op, ns      string
	o, o2       bson.Raw
	fromMigrate bool
}

func parseHeader(raw bson.Raw) (header, error) {
	var h header
	rest := []byte(raw)
	if len(rest) < 5 {
		return h, errMalformed
	}
	rest = rest[4 : len(rest)-1]
	for len(rest) > 0 {
		el, r, ok := bsoncore.ReadElement(rest)
		if !ok {
			return h, errMalformed
		}
		rest = r
		switch el.Key() {
		case "op":
			h.op, _ = el.Value().StringValueOK()
		case "ns":
			h.ns, _ = el.Value().StringValueOK()
		case "o":
			if d, ok := el.Value().DocumentOK(); ok {
				h.o = bson.Raw(d)
			}
		case "o2":
			if d, ok := el.Value().DocumentOK(); ok {
				h.o2 = bson.Raw(d)
			}
		case "fromMigrate":
			h.fromMigrate, _ = el.Value().BooleanOK()
		}
	}
	return h, nil
}

// hasDollarKey reports whether a document has a top-level $-prefixed field.
func hasDollarKey(doc bson.Raw) bool {
	rest := []byte(doc)
	if len(rest) < 5 {
		return false
	}
	rest = rest[4 : len(rest)-1]
	for len(rest) > 0 {
		el, r, ok := bsoncore.ReadElement(rest)
		if !ok {
			return false
		}
		if k := el.Key(); len(k) > 0 && k[0] == '$' {
			return true
		}
		rest = r
	}
	return false
}
