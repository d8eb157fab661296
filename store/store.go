// Package store is the applier's state file: its checkpoint in the spool.
// It is a bbolt file only the applier opens; the checkpoint moves only after
// the destination acknowledged every write up to it.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var (
	bucketState = []byte("state")
	keyCkpt     = []byte("checkpoint")
)

// Checkpoint is the applier's position: every entry up to Seq is applied.
type Checkpoint struct {
	Seq uint64
	TS  bson.Timestamp
}

// Store is an open state file.
type Store struct {
	db *bolt.DB
}

// ErrBusy means another process (sync, copy or applier) holds the state file.
var ErrBusy = errors.New("state file is in use by another mongo-sync process (sync, copy or applier)")

// Open opens (creating) the state file at path.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state file directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketState)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// ErrNotStarted means there is no state file: nothing has run yet.
var ErrNotStarted = errors.New("no state file: not started")

// OpenReadOnly opens an existing state file for reading only, for commands
// that must change nothing (status). A missing file is ErrNotStarted, not
// created; a file a running process holds is ErrBusy after a short wait.
func OpenReadOnly(path string) (*Store, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotStarted)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Checkpoint returns the stored checkpoint (zero when none).
func (s *Store) Checkpoint() (Checkpoint, error) {
	c, _, err := s.checkpointAt(keyCkpt)
	return c, err
}

// checkpointAt reads the checkpoint recorded at key; ok is false when none is.
func (s *Store) checkpointAt(key []byte) (c Checkpoint, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		if b == nil {
			return nil
		}
		v := b.Get(key)
		if v == nil {
			return nil
		}
		if len(v) != 16 {
			return fmt.Errorf("state file %s: %s is damaged (%d bytes)", s.db.Path(), key, len(v))
		}
		c.Seq = binary.BigEndian.Uint64(v)
		u := binary.BigEndian.Uint64(v[8:])
		c.TS = bson.Timestamp{T: uint32(u >> 32), I: uint32(u)}
		ok = true
		return nil
	})
	return c, ok, err
}

// SetCheckpoint durably records c.
func (s *Store) SetCheckpoint(c Checkpoint) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putCheckpoint(tx, keyCkpt, c) })
}

func putCheckpoint(tx *bolt.Tx, key []byte, c Checkpoint) error {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:], c.Seq)
	binary.BigEndian.PutUint64(v[8:], uint64(c.TS.T)<<32|uint64(c.TS.I))
	return tx.Bucket(bucketState).Put(key, v[:])
}

// Close closes the state file.
func (s *Store) Close() error { return s.db.Close() }
