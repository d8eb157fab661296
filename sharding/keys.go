package sharding

// What the applier's statements towards a mongos destination need: its
// shard keys by namespace, read from config.collections and cached, and
// the queries that name a document by _id and shard key.

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// A mongos destination routes each statement by the shard key in its
// query. The applier's statements name the document by _id; for a
// collection sharded on anything else they also carry the shard key
// (applier/exec/sharded.go says which, and when).

// ShardKeys is a mongos destination's shard keys by namespace. They are
// read at the first write and again at the first write after each command
// the applier runs (a drop, rename, create or shardCollection changes
// them). Nil in an Executor: the destination is no mongos.
type ShardKeys struct {
	// Load reads the destination's sharded collections
	// (Collections: config.collections); tests supply their own.
	Load func(ctx context.Context) ([]Collection, error)

	mu     sync.Mutex
	keys   map[string]*Key
	loaded bool
}

// NewShardKeys reads the shard keys of the mongos c is connected to.
func NewShardKeys(c *mongo.Client) *ShardKeys {
	return &ShardKeys{Load: func(ctx context.Context) ([]Collection, error) { return Collections(ctx, c) }}
}

// Invalidate makes the next write read the keys again.
func (s *ShardKeys) Invalidate() {
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
}

// Of is ns's shard key; nil when ns is not sharded or sharded on _id alone
// (a query by _id then names the whole key).
func (s *ShardKeys) Of(ctx context.Context, ns string) (*Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		colls, err := s.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the destination's shard keys: %w", err)
		}
		s.keys = make(map[string]*Key, len(colls))
		for _, c := range colls {
			if !c.IDOnly() {
				s.keys[c.NS] = NewKey(c.Fields())
			}
		}
		s.loaded = true
	}
	return s.keys[ns], nil
}

// Key is the key of a collection sharded on more than _id.
type Key struct {
	fields []string   // key paths other than _id, in key order
	paths  [][]string // the same, split at the dots
}

// NewKey is the key on fields (in key order); _id among them is left out.
func NewKey(fields []string) *Key {
	k := &Key{}
	for _, f := range fields {
		if f == "_id" { // a compound key with _id: the query has it already
			continue
		}
		k.fields = append(k.fields, f)
		k.paths = append(k.paths, strings.Split(f, "."))
	}
	return k
}

// Fields are the key's paths other than _id, in key order.
func (k *Key) Fields() []string { return k.fields }

// Paths are Fields split at the dots.
func (k *Key) Paths() [][]string { return k.paths }

// ValueAt is the value at path in doc; a missing field (or a path through
// a non-document) is null, as MongoDB files a document missing a shard key
// field under null.
func ValueAt(doc bson.Raw, path []string) bsoncore.Value {
	v, err := doc.LookupErr(path...)
	if err != nil || v.Type == bson.TypeUndefined {
		return bsoncore.Value{Type: bsoncore.TypeNull}
	}
	return bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}
}

// AppendQuery appends {_id: id, <field>: <value in doc>...} to dst: the
// query of a statement that writes doc, or finds it as it is.
func (k *Key) AppendQuery(dst []byte, id bson.RawValue, doc bson.Raw) bson.Raw {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendValueElement(dst, "_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
	for i, f := range k.fields {
		dst = bsoncore.AppendValueElement(dst, f, ValueAt(doc, k.paths[i]))
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst[idx:]
}

// AppendLoggedQuery appends the query of a document from the key its entry
// logged (o2 of an update, o of a delete: a sharded source logs _id and its
// shard key there). ok is false, and dst unchanged, when the logged key
// lacks a field of this key (a replica set source logs _id alone).
func (k *Key) AppendLoggedQuery(dst []byte, id bson.RawValue, logged bson.Raw) (bson.Raw, bool) {
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
