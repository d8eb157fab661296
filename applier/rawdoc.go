package applier

import (
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
	it := elementsOf(raw)
	for it.next() {
		// By length first: each == below is one compare of the key's bytes
		// (a switch on the string would binary-search with cmpstring).
		switch k := it.key(); len(k) {
		case 1:
			if k[0] == 'o' {
				if d, ok := docOK(it.val()); ok {
					h.o = d
				}
			}
		case 2:
			if string(k) == "op" {
				h.op = rawString(it.val())
			} else if string(k) == "ns" {
				h.ns = rawString(it.val())
			} else if string(k) == "o2" {
				if d, ok := docOK(it.val()); ok {
					h.o2 = d
				}
			} else if string(k) == "ui" {
				h.ui = binaryUUID(it.val())
			}
		case len("fromMigrate"):
			if string(k) == "fromMigrate" {
				h.fromMigrate, _ = it.val().BooleanOK()
			}
		}
	}
	return h, it.err()
}

// rawString is a BSON string's bytes (no copy); nil for any other type.
func rawString(v bsoncore.Value) []byte {
	if v.Type != bsoncore.TypeString || len(v.Data) < 5 {
		return nil
	}
	return v.Data[4 : len(v.Data)-1]
}

// errStop ends an eachElement walk early.
var errStop = errors.New("stop")

// lookupTop finds a top-level field without allocating.
func lookupTop(doc bson.Raw, key string) (found bson.RawValue, ok bool) {
	it := elementsOf(doc)
	for it.next() {
		if string(it.key()) == key {
			v := it.val()
			return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}, true
		}
	}
	return found, false
}

// hasDollarKey reports whether a document has a top-level $-prefixed field.
func hasDollarKey(doc bson.Raw) bool {
	it := elementsOf(doc)
	for it.next() {
		if k := it.key(); len(k) > 0 && k[0] == '$' {
			return true
		}
	}
	return false
}

// eachElement calls f for every top-level element of doc, without allocating.
func eachElement(doc bson.Raw, f func(key []byte, v bsoncore.Value) error) error {
	it := elementsOf(doc)
	for it.next() {
		if err := f(it.key(), it.val()); err != nil {
			return err
		}
	}
	return it.err()
}
