package store

import (
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"

	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var (
	bucketCopy   = []byte("copy")
	keyStage     = []byte("stage")
	keyT0        = []byte("t0")
	keyCopyEnd   = []byte("copy_end")
	keySpoolFrom = []byte("spool_from")
	keyReadFrom  = []byte("read_from")
	prefixColl   = "coll/"
	prefixRange  = "range/"
	prefixSplit  = "split/"
)

func (s *Store) put(key []byte, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCopy)
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
}

func (s *Store) get(key []byte) []byte {
	var out []byte
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketCopy); b != nil {
			if v := b.Get(key); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out
}

// Stage returns the recorded stage.
func (s *Store) Stage() Stage { return Stage(s.get(keyStage)) }

// SetStage records the stage.
func (s *Store) SetStage(st Stage) error { return s.put(keyStage, []byte(st)) }

// T0 is the oplog position the initial copy started at (zero: none).
func (s *Store) T0() bson.Timestamp { return bsonx.BytesTS(s.get(keyT0)) }

// SpoolFrom is where the spool of a fresh copy began: T0, or before it the
// first entry of the oldest transaction open at T0 (zero: not recorded, take
// T0). A spool lost before anything was applied is refilled from here.
func (s *Store) SpoolFrom() bson.Timestamp { return bsonx.BytesTS(s.get(keySpoolFrom)) }

// ReadFrom is where the entries this state file's appliers have read
// begin: every entry from it on was read (translated) by a run before the
// checkpoint could pass it. It is the copy's spool start, raised by a
// rewind (RaiseReadFrom); zero when unknown (an incremental sync).
func (s *Store) ReadFrom() bson.Timestamp {
	from, rewound := s.SpoolFrom(), bsonx.BytesTS(s.get(keyReadFrom))
	if from.IsZero() && rewound.IsZero() {
		return bson.Timestamp{}
	}
	if from.Before(rewound) {
		return rewound
	}
	return from
}

// RaiseReadFrom records that the entries before ts may not have been read
// by the runs from here on (a rewind into the spool starts them at ts).
func (s *Store) RaiseReadFrom(ts bson.Timestamp) error {
	if !bsonx.BytesTS(s.get(keyReadFrom)).Before(ts) {
		return nil
	}
	return s.put(keyReadFrom, bsonx.TSBytes(ts))
}

// SetReadFrom records that reading begins at ts, below or above what was
// recorded (a run that starts with nothing applied).
func (s *Store) SetReadFrom(ts bson.Timestamp) error { return s.put(keyReadFrom, bsonx.TSBytes(ts)) }

// SetSpoolFrom records where the spool of a fresh copy began.
func (s *Store) SetSpoolFrom(ts bson.Timestamp) error { return s.put(keySpoolFrom, bsonx.TSBytes(ts)) }

// SetT0 records the copy's start position.
func (s *Store) SetT0(ts bson.Timestamp) error { return s.put(keyT0, bsonx.TSBytes(ts)) }

// CopyEnd is the oplog position when the copy finished: the destination is
// consistent once the applier has passed it (zero: copy not finished).
func (s *Store) CopyEnd() bson.Timestamp { return bsonx.BytesTS(s.get(keyCopyEnd)) }

// SetCopyEnd records the copy's end position.
func (s *Store) SetCopyEnd(ts bson.Timestamp) error { return s.put(keyCopyEnd, bsonx.TSBytes(ts)) }

// CollDone reports whether ns was copied whole (documents and indexes).
func (s *Store) CollDone(ns string) bool { return s.get([]byte(prefixColl+ns)) != nil }

// SetCollDone marks ns copied.
func (s *Store) SetCollDone(ns string) error { return s.put([]byte(prefixColl+ns), []byte{1}) }

// RangeDone reports whether range i of ns was copied.
func (s *Store) RangeDone(ns string, i int) bool {
	return s.get([]byte(fmt.Sprintf("%s%s/%d", prefixRange, ns, i))) != nil
}

// SetRangeDone marks range i of ns copied.
func (s *Store) SetRangeDone(ns string, i int) error {
	return s.put([]byte(fmt.Sprintf("%s%s/%d", prefixRange, ns, i)), []byte{1})
}

// Split returns the _id boundaries recorded for ns (a BSON array), if any.
func (s *Store) Split(ns string) (bson.Raw, bool) {
	v := s.get([]byte(prefixSplit + ns))
	return v, v != nil
}

// SetSplit records the _id boundaries of ns, so a restart copies the same
// ranges.
func (s *Store) SetSplit(ns string, bounds bson.Raw) error {
	return s.put([]byte(prefixSplit+ns), bounds)
}

// CopyDone lists the collections whose copy finished.
func (s *Store) CopyDone() []string {
	var out []string
	s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCopy)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Seek([]byte(prefixColl)); k != nil && len(k) > len(prefixColl) && string(k[:len(prefixColl)]) == prefixColl; k, _ = c.Next() {
			out = append(out, string(k[len(prefixColl):]))
		}
		return nil
	})
	return out
}

// CopyStarted reports whether the copy recorded anything: a collection of
// the catalog, a split, a range or a collection done.
func (s *Store) CopyStarted() bool {
	started := false
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketColls); b != nil {
			k, _ := b.Cursor().First()
			started = k != nil
		}
		if b := tx.Bucket(bucketCopy); b != nil {
			for _, p := range []string{prefixColl, prefixRange, prefixSplit} {
				k, _ := b.Cursor().Seek([]byte(p))
				started = started || strings.HasPrefix(string(k), p)
			}
		}
		return nil
	})
	return started
}

// ForgetNamespaces forgets what the copy recorded of the source namespaces
// src selects (collection done, ranges, split) and the catalog's
// collections at the destination namespaces dst selects, in one
// transaction; it returns how many records went. A namespace added back to
// a sync's selection is then copied afresh, not skipped as copied long ago.
func (s *Store) ForgetNamespaces(src, dst func(ns string) bool) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketCopy); b != nil {
			var gone [][]byte
			for _, p := range []string{prefixColl, prefixRange, prefixSplit} {
				c := b.Cursor()
				for k, _ := c.Seek([]byte(p)); k != nil && strings.HasPrefix(string(k), p); k, _ = c.Next() {
					ns := strings.TrimPrefix(string(k), p)
					if p == prefixRange {
						ns = ns[:max(strings.LastIndexByte(ns, '/'), 0)]
					}
					if src(ns) {
						gone = append(gone, append([]byte(nil), k...))
					}
				}
			}
			for _, k := range gone {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(gone)
		}
		if b := tx.Bucket(bucketColls); b != nil {
			var gone [][]byte
			if err := b.ForEach(func(k, v []byte) error {
				if dst(string(v)) {
					gone = append(gone, append([]byte(nil), k...))
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range gone {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(gone)
		}
		return nil
	})
	return n, err
}
