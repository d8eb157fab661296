package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Deferred work is what a replay window left to finish once later entries
// have been applied: a unique key moved aside to let a replayed write
// through (restored when its conflict is gone), or a unique index whose
// build met duplicates that later entries remove. The applier retries each
// item after every batch; an item left when it has passed the window is an
// error naming it.
var bucketDeferred = []byte("deferred")

// Deferred is one item of deferred work.
type Deferred struct {
	Kind string `bson:"kind"` // "moved" or "index"
	NS   string `bson:"ns"`
	// moved: the document, the path moved aside and its value.
	ID    bson.RawValue `bson:"id,omitempty"`
	Path  string        `bson:"path,omitempty"`
	Value bson.RawValue `bson:"value,omitempty"`
	Index string        `bson:"index,omitempty"` // the index it conflicted on
	// Embedded: the original value was a document, kept whole with the
	// marker field added (later entries may change inside it); else the
	// placeholder is the marker alone and Value the value to put back.
	Embedded bool `bson:"embedded,omitempty"`
	// index: the unique createIndexes command to run on DB, built
	// non-unique meanwhile; State is "converting" while the non-unique
	// build is being replaced.
	DB    string   `bson:"db,omitempty"`
	Cmd   bson.Raw `bson:"cmd,omitempty"`
	State string   `bson:"state,omitempty"`
}

// Key identifies an item: one per moved path of a document, one per index.
func (d Deferred) Key() []byte {
	switch d.Kind {
	case "moved":
		k := append([]byte("moved\x00"+d.NS+"\x00"), byte(d.ID.Type))
		return append(append(k, d.ID.Value...), "\x00"+d.Path...)
	default:
		return []byte(d.Kind + "\x00" + d.NS + "\x00" + d.Index)
	}
}

// PutDeferred records an item.
func (s *Store) PutDeferred(d Deferred) error {
	v, err := bson.Marshal(d)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDeferred)
		if err != nil {
			return err
		}
		return b.Put(d.Key(), v)
	})
}

// DeleteDeferred forgets a finished item.
func (s *Store) DeleteDeferred(d Deferred) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketDeferred); b != nil {
			return b.Delete(d.Key())
		}
		return nil
	})
}

// DeferredWork lists the recorded items, in key order.
func (s *Store) DeferredWork() ([]Deferred, error) {
	var out []Deferred
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeferred)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var d Deferred
			if err := bson.Unmarshal(append([]byte(nil), v...), &d); err != nil {
				return fmt.Errorf("state file %s: deferred item %q is damaged: %w", s.db.Path(), k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}
