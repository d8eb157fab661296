package store

import (
	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The catalog maps source collections, by the UUID their oplog entries
// carry (ui), to the destination namespace that holds them now. The copy
// records each collection it copies; the applier moves an entry when a
// create, rename or drop has run on the destination, so writes logged
// before a rename land where the collection lives, whatever its name.
var bucketColls = []byte("collections")

// Collections returns the catalog: UUID bytes (as a string) to namespace.
func (s *Store) Collections() (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketColls)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
}

// bucketDropped keeps the collections a shard of a sharded source saw
// dropped while the drop was not applied on the destination (its catalog
// forgot them: applier/translate/catalog.go), so that the shard's writes of
// them, replayed by that shard alone, are not applied either.
var bucketDropped = []byte("dropped collections")

// SetCollection records that the source collection uuid lives at the
// destination namespace ns (and is no longer recorded dropped).
func (s *Store) SetCollection(uuid []byte, ns string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketColls)
		if err != nil {
			return err
		}
		if d := tx.Bucket(bucketDropped); d != nil {
			if err := d.Delete(uuid); err != nil {
				return err
			}
		}
		return b.Put(uuid, []byte(ns))
	})
}

// DropCollection forgets the source collection uuid and records it
// dropped by the entry at ts, in one transaction.
func (s *Store) DropCollection(uuid []byte, ts bson.Timestamp) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketColls); b != nil {
			if err := b.Delete(uuid); err != nil {
				return err
			}
		}
		d, err := tx.CreateBucketIfNotExists(bucketDropped)
		if err != nil {
			return err
		}
		return d.Put(uuid, bsonx.TSBytes(ts))
	})
}

// Dropped returns the collections recorded dropped (DropCollection), by
// UUID bytes as a string, with the ts of the drop.
func (s *Store) Dropped() (map[string]bson.Timestamp, error) {
	out := map[string]bson.Timestamp{}
	err := s.db.View(func(tx *bolt.Tx) error {
		if d := tx.Bucket(bucketDropped); d != nil {
			return d.ForEach(func(k, v []byte) error {
				if len(v) != 8 { // a record without its ts (one build wrote those): dropped for good
					out[string(k)] = bson.Timestamp{T: ^uint32(0), I: ^uint32(0)}
					return nil
				}
				out[string(k)] = bsonx.BytesTS(v)
				return nil
			})
		}
		return nil
	})
	return out, err
}

// DeleteCollection forgets the source collection uuid (dropped).
func (s *Store) DeleteCollection(uuid []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketColls); b != nil {
			return b.Delete(uuid)
		}
		return nil
	})
}
