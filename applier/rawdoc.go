package applier

import (
	"encoding/binary"
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

// docID is a document's top-level _id. mongod logs it first (o2, a delete's
// o, an inserted document): that case is read in place, any other walked.
func docID(doc bson.Raw) (bson.RawValue, bool) {
	if len(doc) > 9 && doc[5] == '_' && doc[6] == 'i' && doc[7] == 'd' && doc[8] == 0 {
		it := elements{b: doc[4 : len(doc)-1]}
		if it.next() {
			v := it.val()
			return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}, true
		}
	}
	return lookupTop(doc, "_id")
}

// v2Diff is the diff of an update's o when o is exactly {$v: 2, diff:
// {...}} with $v an int32, as mongod logs every $v:2 update; ok false sends
// the caller to the general walk (shapeOf), which also reads every other
// form.
func v2Diff(o bson.Raw) (bson.Raw, bool) {
	const head = 4 + 1 + len("$v\x00") + 4 + 1 + len("diff\x00") // up to the diff's length
	if len(o) < head+5+1 || o[4] != byte(bsoncore.TypeInt32) || string(o[5:8]) != "$v\x00" ||
		binary.LittleEndian.Uint32(o[8:]) != 2 || o[12] != byte(bsoncore.TypeEmbeddedDocument) ||
		string(o[13:18]) != "diff\x00" {
		return nil, false
	}
	n := int(int32(binary.LittleEndian.Uint32(o[head:])))
	if n < 5 || head+n != len(o)-1 || o[len(o)-1] != 0 {
		return nil, false // not the last field, or malformed: the walk decides
	}
	return o[head : head+n], true
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
