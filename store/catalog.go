package store

import (
	bolt "go.etcd.io/bbolt"
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

// SetCollection records that the source collection uuid lives at the
// destination namespace ns.
func (s *Store) SetCollection(uuid []byte, ns string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketColls)
		if err != nil {
			return err
		}
		return b.Put(uuid, []byte(ns))
	})
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
