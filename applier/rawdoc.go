package applier

import (
	"bytes"

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

// header is the top level of an oplog entry, read in one pass. op and ns
// point into the entry.
type header struct {
	op, ns      []byte
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
		key, v, r, ok := nextElement(rest)
		if !ok {
			return h, errMalformed
		}
		rest = r
		switch string(key) {
		case "op":
			h.op = rawString(v)
		case "ns":
			h.ns = rawString(v)
		case "o":
			if d, ok := v.DocumentOK(); ok {
				h.o = bson.Raw(d)
			}
		case "o2":
			if d, ok := v.DocumentOK(); ok {
				h.o2 = bson.Raw(d)
			}
		case "fromMigrate":
			h.fromMigrate, _ = v.BooleanOK()
		}
	}
	return h, nil
}

// rawString is a BSON string's bytes (no copy); nil for any other type.
func rawString(v bsoncore.Value) []byte {
	if v.Type != bsoncore.TypeString || len(v.Data) < 5 {
		return nil
	}
	return v.Data[4 : len(v.Data)-1]
}

// lookupTop finds a top-level field without allocating.
func lookupTop(doc bson.Raw, key string) (bson.RawValue, bool) {
	if len(doc) < 5 {
		return bson.RawValue{}, false
	}
	rest := []byte(doc)[4 : len(doc)-1]
	for len(rest) > 0 {
		k, v, r, ok := nextElement(rest)
		if !ok {
			return bson.RawValue{}, false
		}
		if string(k) == key {
			return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}, true
		}
		rest = r
	}
	return bson.RawValue{}, false
}

// hasDollarKey reports whether a document has a top-level $-prefixed field.
func hasDollarKey(doc bson.Raw) bool {
	rest := []byte(doc)
	if len(rest) < 5 {
		return false
	}
	rest = rest[4 : len(rest)-1]
	for len(rest) > 0 {
		k, _, r, ok := nextElement(rest)
		if !ok {
			return false
		}
		if len(k) > 0 && k[0] == '$' {
			return true
		}
		rest = r
	}
	return false
}

// nextElement splits the first element off rest (a document's elements):
// its key and value, scanning the key once (bsoncore's Element scans it
// again for each accessor).
func nextElement(rest []byte) (key []byte, v bsoncore.Value, tail []byte, ok bool) {
	if len(rest) < 2 {
		return nil, v, nil, false
	}
	end := bytes.IndexByte(rest[1:], 0)
	if end < 0 {
		return nil, v, nil, false
	}
	t := bsoncore.Type(rest[0])
	v, tail, ok = bsoncore.ReadValue(rest[2+end:], t)
	return rest[1 : 1+end], v, tail, ok
}
