package store

import (
	"encoding/json"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// An online addition (namespaces added to a running sync's selection,
// Binding.AddingFrom) has a position of its own: the added namespaces'
// entries are applied from where the addition began, by a second applier,
// once their copy has ended (package pipeline, add.go). It is recorded
// beside the checkpoint, with the end of the addition's copy.
var (
	keyAddCkpt    = []byte("addition_checkpoint")
	keyAddCopyEnd = []byte("addition_copy_end")
)

// Addition is the position of an online addition's applier, as a Cursor
// of package applier.
type Addition struct{ s *Store }

// Addition returns s's addition cursor.
func (s *Store) Addition() Addition { return Addition{s} }

// Checkpoint is the addition's position; zero when none is recorded.
func (a Addition) Checkpoint() (Checkpoint, error) {
	c, _, err := a.s.checkpointAt(keyAddCkpt)
	return c, err
}

// Recorded reports whether the addition's position is recorded.
func (a Addition) Recorded() (bool, error) {
	_, ok, err := a.s.checkpointAt(keyAddCkpt)
	return ok, err
}

// SetCheckpoint durably records the addition's position.
func (a Addition) SetCheckpoint(c Checkpoint) error {
	return a.s.db.Update(func(tx *bolt.Tx) error { return putCheckpoint(tx, keyAddCkpt, c) })
}

// CopyEnd is the end of the addition's copy; zero until it has ended.
func (a Addition) CopyEnd() bson.Timestamp { return bsonx.BytesTS(a.s.get(keyAddCopyEnd)) }

// SetCopyEnd records the end of the addition's copy.
func (a Addition) SetCopyEnd(ts bson.Timestamp) error {
	return a.s.put(keyAddCopyEnd, bsonx.TSBytes(ts))
}

// Begin records the position an addition begins at, and that its copy has
// not ended: namespaces added while one addition is under way are copied
// with it, and its copy's end comes after theirs.
func (a Addition) Begin(at Checkpoint) error {
	return a.s.db.Update(func(tx *bolt.Tx) error {
		if c := tx.Bucket(bucketCopy); c != nil {
			if err := c.Delete(keyAddCopyEnd); err != nil {
				return err
			}
		}
		return putCheckpoint(tx, keyAddCkpt, at)
	})
}

// End records, in one transaction, that the addition has joined the rest of
// the sync: the copy's end moves to the addition's (when later), the
// addition's position and copy end are removed, and b (its AddingFrom
// cleared) is recorded.
func (a Addition) End(b Binding) error {
	b.AddingFrom = ""
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	end := a.CopyEnd()
	return a.s.db.Update(func(tx *bolt.Tx) error {
		c, err := tx.CreateBucketIfNotExists(bucketCopy)
		if err != nil {
			return err
		}
		if prev := bsonx.BytesTS(c.Get(keyCopyEnd)); prev.Before(end) {
			if err := c.Put(keyCopyEnd, bsonx.TSBytes(end)); err != nil {
				return err
			}
		}
		if err := c.Delete(keyAddCopyEnd); err != nil {
			return err
		}
		if err := c.Put(keyBinding, raw); err != nil {
			return err
		}
		return tx.Bucket(bucketState).Delete(keyAddCkpt)
	})
}
