package spool

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/mongo-sync/mongo-sync/internal/slab"
	bolt "go.etcd.io/bbolt"
)

// Reader reads sealed segments, from any process, while a writer appends.
type Reader struct {
	dir string
	db  *bolt.DB
	seg Segment
}

// OpenReader opens the spool at dir for reading.
func OpenReader(dir string) (*Reader, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open spool: %s is not a directory", dir)
	}
	return &Reader{dir: dir}, nil
}

// Dir is the spool directory.
func (r *Reader) Dir() string { return r.dir }

// Read returns up to max entries, of about maxBytes at most (at least one
// entry), starting at seq from, all from one sealed segment. It returns no
// entries and no error when no sealed segment holds from yet. A seq already
// removed gives ErrGone; a missing segment a *GapError; damage a *CorruptError.
func (r *Reader) Read(ctx context.Context, from uint64, max, maxBytes int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.db == nil || from < r.seg.First || from > r.seg.Last {
		ok, err := r.locate(from)
		if err != nil || !ok {
			return nil, err
		}
	}
	return r.readFrom(from, max, maxBytes)
}

// locate opens the sealed segment that holds from.
func (r *Reader) locate(from uint64) (bool, error) {
	r.closeSeg()
	l, err := List(r.dir)
	if err != nil {
		return false, err
	}
	if len(l.Sealed) == 0 || from > l.Sealed[len(l.Sealed)-1].Last {
		return false, nil
	}
	if from < l.Sealed[0].First {
		return false, fmt.Errorf("seq %d (the oldest in the spool is %d): %w", from, l.Sealed[0].First, ErrGone)
	}
	for _, g := range l.Gaps {
		if from >= g.From && from <= g.To {
			return false, &g
		}
	}
	for _, s := range l.Sealed {
		if from >= s.First && from <= s.Last {
			return true, r.openSeg(s)
		}
	}
	return false, fmt.Errorf("seq %d: no segment found", from)
}

func (r *Reader) openSeg(s Segment) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(s, &err)
	if err := checkFileSize(s); err != nil {
		return err
	}
	db, err := openReadOnly(s.Path)
	if err != nil {
		return &CorruptError{File: s.Path, First: s.First, Last: s.Last, Reason: err.Error()}
	}
	if err := db.View(func(tx *bolt.Tx) error { _, err := readMeta(tx, s, false); return err }); err != nil {
		db.Close()
		return err
	}
	r.db, r.seg = db, s
	return nil
}

func (r *Reader) readFrom(from uint64, max, maxBytes int) (out []Entry, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(r.seg, &err)
	seg := r.seg
	out = make([]Entry, 0, min(uint64(max), seg.Last-from+1))
	err = r.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		bytes := 0
		want := from
		entries := slab.Slab{Size: 256 << 10}
		for k, v := c.Seek(seqKey(from)); len(out) < max && want <= seg.Last; k, v = c.Next() {
			if k == nil || keySeq(k) != want {
				return &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Seq: want, Reason: "entry missing"}
			}
			raw, bad := decodeValue(v, &entries)
			if bad != "" {
				return &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Seq: want, Reason: bad}
			}
			ts, ok := entryTS(raw)
			if !ok {
				return &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Seq: want, Reason: "entry has no ts"}
			}
			out = append(out, Entry{Seq: want, TS: ts, Raw: raw})
			want++
			if bytes += len(raw); bytes >= maxBytes {
				break
			}
		}
		return nil
	})
	if err != nil {
		r.closeSeg()
		return nil, err
	}
	return out, nil
}

func (r *Reader) closeSeg() {
	if r.db != nil {
		r.db.Close()
		r.db = nil
	}
}

// Close releases the segment the reader holds open.
func (r *Reader) Close() error {
	r.closeSeg()
	return nil
}

// readOne reads the entry seq of a sealed segment.
func readOne(s Segment, seq uint64) (Entry, error) {
	r := &Reader{}
	if err := r.openSeg(s); err != nil {
		return Entry{}, err
	}
	defer r.closeSeg()
	es, err := r.readFrom(seq, 1, 1)
	if err != nil {
		return Entry{}, err
	}
	if len(es) != 1 {
		return Entry{}, &CorruptError{File: s.Path, First: s.First, Last: s.Last, Seq: seq, Reason: "entry missing"}
	}
	return es[0], nil
}
