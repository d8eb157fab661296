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
// In the writer's own process it can also follow the open segment (Follow).
type Reader struct {
	dir string
	db  *bolt.DB
	seg Segment
	w   *Writer // followed, if set: the open segment is read through it

	// The memory the last Read returned its entries in, and whether the
	// caller has given it back (Release): the next Read then reuses it
	// instead of allocating its batch anew.
	mem      batchMem
	released bool
}

// batchMem is the memory of one batch of entries: the entries and the
// blocks their bytes are carved from (an entry over a quarter of a block
// gets an allocation of its own).
type batchMem struct {
	out  []Entry
	data slab.Slab
}

// entryBlock is the size of the blocks a batch's entries are copied into.
const entryBlock = 256 << 10

// newBatchMem is memory for a batch, whose blocks a Rewind hands out again.
func newBatchMem() batchMem {
	m := batchMem{data: slab.Slab{Size: entryBlock}}
	m.data.Rewind()
	return m
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
// entry), starting at seq from, all from one segment: a sealed one, or the
// open one of a followed Writer. It returns no entries and no error when no
// segment it may read holds from yet. A seq already
// removed gives ErrGone; a missing segment a *GapError; damage a *CorruptError.
// The entries are the caller's until it calls Release.
func (r *Reader) Read(ctx context.Context, from uint64, max, maxBytes int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.released {
		r.mem.data.Rewind()
	} else {
		r.mem = newBatchMem() // the caller's: this batch goes in new memory
	}
	es, err := r.read(from, max, maxBytes, &r.mem)
	if len(es) > 0 {
		r.released = false // the memory is the caller's again
	}
	return es, err
}

func (r *Reader) read(from uint64, max, maxBytes int, mem *batchMem) ([]Entry, error) {
	if r.w != nil {
		if es, ok, err := r.w.readOpen(from, max, maxBytes, mem); ok {
			return es, err
		}
	}
	if r.db == nil || from < r.seg.First || from > r.seg.Last {
		ok, err := r.locate(from)
		if err != nil || !ok {
			return nil, err
		}
	}
	return r.readFrom(from, max, maxBytes, mem)
}

// Release gives back the memory of the entries the last Read returned: the
// caller keeps no Raw of theirs, nor any slice of one, from here on (what
// it keeps longer, it copies). The next Read may then overwrite them
// instead of allocating its batch anew. Without Release, every Read's
// entries are the caller's for good.
func (r *Reader) Release() { r.released = true }

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

func (r *Reader) readFrom(from uint64, max, maxBytes int, mem *batchMem) ([]Entry, error) {
	out, err := readEntries(r.db, r.seg, from, r.seg.Last, max, maxBytes, mem)
	if err != nil {
		r.closeSeg()
		return nil, err
	}
	return out, nil
}

// readEntries reads up to max entries (about maxBytes) from db, the
// segment seg, starting at from and ending at last at the latest. Every
// entry up to last must be there, with its checksum right. The entries are
// copied into mem, overwriting what it held, or into new memory if mem is
// nil.
func readEntries(db *bolt.DB, seg Segment, from, last uint64, max, maxBytes int, mem *batchMem) (out []Entry, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if err != nil {
			out = nil // nothing of a batch that failed, even after a recovered fault
		}
	}()
	defer guard(seg, &err)
	if mem == nil {
		m := newBatchMem()
		mem = &m
	}
	want := int(min(uint64(max), last-from+1))
	if out = mem.out[:0]; cap(out) < want {
		out = make([]Entry, 0, want)
	}
	defer func() { mem.out = out[:0] }()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		if b == nil {
			return &CorruptError{File: seg.Path, First: seg.First, Last: last, Seq: from, Reason: "missing entries bucket"}
		}
		c := b.Cursor()
		bytes := 0
		want := from
		for k, v := c.Seek(seqKey(from)); len(out) < max && want <= last; k, v = c.Next() {
			if k == nil || keySeq(k) != want {
				return &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Seq: want, Reason: "entry missing"}
			}
			raw, bad := checkValue(v)
			if bad != "" {
				return &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Seq: want, Reason: bad}
			}
			// Copied out of bbolt's memory, valid only inside the
			// transaction.
			raw = mem.data.Copy(raw)
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
	es, err := r.readFrom(seq, 1, 1, nil)
	if err != nil {
		return Entry{}, err
	}
	if len(es) != 1 {
		return Entry{}, &CorruptError{File: s.Path, First: s.First, Last: s.Last, Seq: seq, Reason: "entry missing"}
	}
	return es[0], nil
}
