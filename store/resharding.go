package store

import (
	bolt "go.etcd.io/bbolt"
)

// A resharding (reshardCollection from 5.0; 8.0's moveCollection and
// unshardCollection run on it) copies a sharded collection into
// <db>.system.resharding.<its UUID> on every recipient shard, renames that
// copy over the original once committed, and drops the original on each
// donor that is no recipient. The state file of a shard records the
// reshardings whose temporary collection this shard created and has not
// renamed or dropped since, by the original collection's UUID (the
// temporary collection's UUID beside it): another shard's plain drop of
// the original is then the resharding's, not a user's, and is not applied
// (applier/translate/moved.go).
var bucketResharding = []byte("reshardings")

// SetResharding records that this shard created the temporary collection
// temp of a resharding of collection orig (both UUIDs).
func (s *Store) SetResharding(orig, temp []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketResharding)
		if err != nil {
			return err
		}
		return b.Put(orig, temp)
	})
}

// EndResharding forgets the resharding of collection orig: its temporary
// collection was renamed over orig, or dropped (aborted).
func (s *Store) EndResharding(orig []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketResharding); b != nil {
			return b.Delete(orig)
		}
		return nil
	})
}

// Resharding reports whether this shard records a resharding of
// collection orig under way.
func (s *Store) Resharding(orig []byte) (bool, error) {
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketResharding); b != nil {
			found = b.Get(orig) != nil
		}
		return nil
	})
	return found, err
}

// Reshardings returns the reshardings this shard records under way, by
// the original collection's UUID bytes as a string.
func (s *Store) Reshardings() (map[string]bool, error) {
	out := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketResharding); b != nil {
			return b.ForEach(func(k, _ []byte) error {
				out[string(k)] = true
				return nil
			})
		}
		return nil
	})
	return out, err
}
