package applier

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mongo-sync/mongo-sync/sharding"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// A mongos destination routes each statement by the shard key in its
// query. The applier's statements name the document by _id; for a
// collection sharded on anything else they also carry the shard key
// (shardedOps.go says which, and when).

// ShardKeys is a mongos destination's shard keys by namespace. They are
// read at the first write and again at the first write after each command
// the applier runs (a drop, rename, create or shardCollection changes
// them). Nil in an Executor: the destination is no mongos.
type ShardKeys struct {
	// Load reads the destination's sharded collections
	// (sharding.Collections: config.collections); tests supply their own.
	Load func(ctx context.Context) ([]sharding.Collection, error)

	mu     sync.Mutex
	keys   map[string]*shardKey
	loaded bool
}

// NewShardKeys reads the shard keys of the mongos c is connected to.
func NewShardKeys(c *mongo.Client) *ShardKeys {
	return &ShardKeys{Load: func(ctx context.Context) ([]sharding.Collection, error) { return sharding.Collections(ctx, c) }}
}

// Invalidate makes the next write read the keys again.
func (s *ShardKeys) Invalidate() {
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
}

// of is ns's shard key; nil when ns is not sharded or sharded on _id alone
// (a query by _id then names the whole key).
func (s *ShardKeys) of(ctx context.Context, ns string) (*shardKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		colls, err := s.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the destination's shard keys: %w", err)
		}
		s.keys = make(map[string]*shardKey, len(colls))
		for _, c := range colls {
			if !c.IDOnly() {
				s.keys[c.NS] = newShardKey(c.Fields())
			}
		}
		s.loaded = true
	}
	return s.keys[ns], nil
}

// shardKey is the key of a collection sharded on more than _id.
type shardKey struct {
	fields []string   // key paths other than _id, in key order
	paths  [][]string // the same, split at the dots
}

func newShardKey(fields []string) *shardKey {
	k := &shardKey{}
	for _, f := range fields {
		if f == "_id" { // a compound key with _id: the query has it already
			continue
		}
		k.fields = append(k.fields, f)
		k.paths = append(k.paths, strings.Split(f, "."))
	}
	return k
}

// valueAt is the value at path in doc; a missing field (or a path through
// a non-document) is null, as MongoDB files a document missing a shard key
// field under null.
func valueAt(doc bson.Raw, path []string) bsoncore.Value {
	v, err := doc.LookupErr(path...)
	if err != nil || v.Type == bson.TypeUndefined {
		return bsoncore.Value{Type: bsoncore.TypeNull}
	}
	return bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}
}

// appendQuery appends {_id: id, <field>: <value in doc>...} to dst: the
// query of a statement that writes doc, or finds it as it is.
func (k *shardKey) appendQuery(dst []byte, id bson.RawValue, doc bson.Raw) bson.Raw {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendValueElement(dst, "_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
	for i, f := range k.fields {
		dst = bsoncore.AppendValueElement(dst, f, valueAt(doc, k.paths[i]))
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst[idx:]
}

// appendLoggedQuery appends the query of a document from the key its entry
// logged (o2 of an update, o of a delete: a sharded source logs _id and its
// shard key there). ok is false, and dst unchanged, when the logged key
// lacks a field of this key (a replica set source logs _id alone).
func (k *shardKey) appendLoggedQuery(dst []byte, id bson.RawValue, logged bson.Raw) (bson.Raw, bool) {
	if logged == nil {
		return nil, false
	}
	n := len(dst)
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendValueElement(dst, "_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
	for i, f := range k.fields {
		// A dotted key may be logged under its dotted name or nested.
		v, err := logged.LookupErr(f)
		if err != nil && len(k.paths[i]) > 1 {
			v, err = logged.LookupErr(k.paths[i]...)
		}
		if err != nil {
			return dst[:n], false
		}
		dst = bsoncore.AppendValueElement(dst, f, bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst[idx:], true
}

// sameKey reports whether documents a and b hold the same shard key value
// (a missing field and null are the same; numbers compare by value).
func (k *shardKey) sameKey(a, b bson.Raw) bool {
	var ca, cb []byte
	for _, p := range k.paths {
		va, vb := valueAt(a, p), valueAt(b, p)
		ca = appendCanon(ca[:0], bson.Type(va.Type), va.Data)
		cb = appendCanon(cb[:0], bson.Type(vb.Type), vb.Data)
		if !bytes.Equal(ca, cb) {
			return false
		}
	}
	return true
}

// touches reports whether a modifier update ({$set: {path: v}, $unset:
// {path: true}}) writes a path at, above or inside a key field: it may
// change the document's shard key.
func (k *shardKey) touches(update bson.Raw) bool {
	touched := false
	eachElement(update, func(_ []byte, v bsoncore.Value) error {
		paths, ok := v.DocumentOK()
		if !ok {
			return nil
		}
		eachElement(bson.Raw(paths), func(p []byte, _ bsoncore.Value) error {
			for _, f := range k.fields {
				if overlaps(string(p), f) {
					touched = true
					return errStop
				}
			}
			return nil
		})
		if touched {
			return errStop
		}
		return nil
	})
	return touched
}

// overlaps reports whether dotted paths p and f are the same, or one lies
// inside the other.
func overlaps(p, f string) bool {
	if len(p) > len(f) {
		p, f = f, p
	}
	return strings.HasPrefix(f, p) && (len(f) == len(p) || f[len(p)] == '.')
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
