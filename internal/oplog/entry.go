package oplog

import (
	"encoding/binary"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Header is the top level of an oplog entry, read in one pass. Op and NS
// point into the entry.
type Header struct {
	Op, NS      []byte
	O, O2       bson.Raw
	UI          []byte // the collection's UUID, nil when not logged
	FromMigrate bool
}

// ParseHeader reads raw's top level.
func ParseHeader(raw bson.Raw) (Header, error) {
	var h Header
	it := ElementsOf(raw)
	for it.Next() {
		// By length first: each == below is one compare of the key's bytes
		// (a switch on the string would binary-search with cmpstring).
		switch k := it.Key(); len(k) {
		case 1:
			if k[0] == 'o' {
				if d, ok := DocOK(it.Val()); ok {
					h.O = d
				}
			}
		case 2:
			if string(k) == "op" {
				h.Op = rawString(it.Val())
			} else if string(k) == "ns" {
				h.NS = rawString(it.Val())
			} else if string(k) == "o2" {
				if d, ok := DocOK(it.Val()); ok {
					h.O2 = d
				}
			} else if string(k) == "ui" {
				h.UI = BinaryUUID(it.Val())
			}
		case len("fromMigrate"):
			if string(k) == "fromMigrate" {
				h.FromMigrate, _ = it.Val().BooleanOK()
			}
		}
	}
	return h, it.Err()
}

// DocID is a document's top-level _id. mongod logs it first (o2, a delete's
// o, an inserted document): that case is read in place, any other walked.
func DocID(doc bson.Raw) (bson.RawValue, bool) {
	if len(doc) > 9 && doc[5] == '_' && doc[6] == 'i' && doc[7] == 'd' && doc[8] == 0 {
		it := Elements{b: doc[4 : len(doc)-1]}
		if it.Next() {
			v := it.Val()
			return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}, true
		}
	}
	return LookupTop(doc, "_id")
}

// V2Diff is the diff of an update's o when o is exactly {$v: 2, diff:
// {...}} with $v an int32, as mongod logs every $v:2 update; ok false sends
// the caller to the general walk (shapeOf), which also reads every other
// form.
func V2Diff(o bson.Raw) (bson.Raw, bool) {
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

// ErrStop ends an EachElement walk early.
var ErrStop = errors.New("stop")

// LookupTop finds a top-level field without allocating.
func LookupTop(doc bson.Raw, key string) (found bson.RawValue, ok bool) {
	it := ElementsOf(doc)
	for it.Next() {
		if string(it.Key()) == key {
			v := it.Val()
			return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}, true
		}
	}
	return found, false
}

// HasDollarKey reports whether a document has a top-level $-prefixed field.
func HasDollarKey(doc bson.Raw) bool {
	it := ElementsOf(doc)
	for it.Next() {
		if k := it.Key(); len(k) > 0 && k[0] == '$' {
			return true
		}
	}
	return false
}

// EachElement calls f for every top-level element of doc, without
// allocating.
func EachElement(doc bson.Raw, f func(key []byte, v bsoncore.Value) error) error {
	it := ElementsOf(doc)
	for it.Next() {
		if err := f(it.Key(), it.Val()); err != nil {
			return err
		}
	}
	return it.Err()
}

// BinaryUUID is a UUID BinData's bytes, nil for any other value or an
// empty one.
func BinaryUUID(v bsoncore.Value) []byte {
	if v.Type != bsoncore.TypeBinary {
		return nil
	}
	_, data, ok := v.BinaryOK()
	if !ok || len(data) == 0 {
		return nil
	}
	return data
}

// ShardCollectionNoop reports the no-op MongoDB 5.0+ logs on a shard when
// it shards a collection (applier/translate/shardcoll.go): op n, o2 beginning with
// shardCollection.
func ShardCollectionNoop(raw bson.Raw) bool {
	if op, _ := raw.Lookup("op").StringValueOK(); op != "n" {
		return false
	}
	o2, ok := raw.Lookup("o2").DocumentOK()
	if !ok {
		return false
	}
	el, err := o2.IndexErr(0)
	return err == nil && el.Key() == "shardCollection"
}

// ShardIdentityNS holds a shard's identity document.
const ShardIdentityNS = "admin.system.version"

// ShardIdentityWrite reports the write that makes a replica set a shard:
// the config server's addShard inserts (or, on a re-add, updates) the
// shard's identity {_id: "shardIdentity", shardName, clusterId,
// configsvrConnectionString} into admin.system.version (mongodb/mongo
// src/mongo/s/shard_identity.idl; jstests/sharding/
// shard_identity_config_update.js writes it that way). op, ns, o and o2 are
// the entry's fields.
func ShardIdentityWrite(op, ns string, o, o2 bson.Raw) bool {
	if ns != ShardIdentityNS {
		return false
	}
	var id bson.RawValue
	switch op {
	case "i":
		id = o.Lookup("_id")
	case "u":
		id = o2.Lookup("_id")
	default:
		return false
	}
	s, ok := id.StringValueOK()
	return ok && s == "shardIdentity"
}
