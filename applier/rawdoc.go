package applier

import (
	"bytes"
	"errors"

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
	ui          []byte // the collection's UUID, nil when not logged
	fromMigrate bool
}

func parseHeader(raw bson.Raw) (header, error) {
	var h header
	err := eachElement(raw, func(key []byte, v bsoncore.Value) error {
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
		case "ui":
			h.ui = binaryUUID(v)
		case "fromMigrate":
			h.fromMigrate, _ = v.BooleanOK()
		}
		return nil
	})
	return h, err
}

// rawString is a BSON string's bytes (no copy); nil for any other type.
func rawString(v bsoncore.Value) []byte {
	if v.Type != bsoncore.TypeString || len(v.Data) < 5 {
		return nil
	}
	return v.Data[4 : len(v.Data)-1]
}

// errStop ends an eachElement walk early; it never leaves this file.
var errStop = errors.New("stop")

// lookupTop finds a top-level field without allocating.
func lookupTop(doc bson.Raw, key string) (found bson.RawValue, ok bool) {
	eachElement(doc, func(k []byte, v bsoncore.Value) error {
		if string(k) != key {
			return nil
		}
		found, ok = bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}, true
		return errStop
	})
	return found, ok
}

// hasDollarKey reports whether a document has a top-level $-prefixed field.
func hasDollarKey(doc bson.Raw) (has bool) {
	eachElement(doc, func(k []byte, _ bsoncore.Value) error {
		if has = len(k) > 0 && k[0] == '$'; has {
			return errStop
		}
		return nil
	})
	return has
}

// eachElement calls f for every top-level element of doc, without allocating.
func eachElement(doc bson.Raw, f func(key []byte, v bsoncore.Value) error) error {
	if len(doc) < 5 {
		return errMalformed
	}
	rest := []byte(doc)[4 : len(doc)-1]
	for len(rest) > 0 {
		key, v, r, ok := nextElement(rest)
		if !ok {
			return errMalformed
		}
		if err := f(key, v); err != nil {
			return err
		}
		rest = r
	}
	return nil
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
