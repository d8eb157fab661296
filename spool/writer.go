package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"github.com/mongo-sync/mongo-sync/internal/failpoint"
	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Options configure a Writer.
type Options struct {
	// SegmentMaxBytes seals the open segment once its file reaches this size.
	SegmentMaxBytes int64
	// SealInterval seals the open segment once it has held entries this
	// long, so the applier sees them with low delay.
	SealInterval time.Duration
	// MaxBytes caps the spool's size on disk; appends wait until the applier
	// frees space. Zero means no cap.
	MaxBytes int64
	// Source identifies the source the spool belongs to; a spool written
	// for another source is refused. Empty adopts whatever the spool has.
	Source string
	// OnSeal, if set, is called after every seal (wakes an in-process applier).
	OnSeal func()
	// OnAppend, if set, is called after every committed append (wakes an
	// in-process applier that follows the open segment: Reader.Follow).
	OnAppend func()
	Logger   logrus.FieldLogger
}

func (o *Options) defaults() {
	if o.SegmentMaxBytes <= 0 {
		o.SegmentMaxBytes = 64 << 20
	}
	if o.SealInterval <= 0 {
		o.SealInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = logrus.StandardLogger()
	}
}

// Writer appends entries to a spool. Only one Writer per directory can be
// open at a time, in any process.
type Writer struct {
	dir  string
	opts Options
	log  logrus.FieldLogger
	lock *os.File

	mu          sync.Mutex
	db          *bolt.DB // the open segment; nil until the next append
	seg         Segment
	unsealed    *Segment      // closed but not renamed sealed: see unsealed.go
	sealRetry   time.Duration // the delay before the next retry of its seal
	segEntries  uint64
	timer       *time.Timer
	next        uint64
	last        Entry
	hasLast     bool
	sealedBytes int64
	openBytes   int64
	published   time.Time
	closed      bool
	batch       []byte // the keys and values of an append (batchBuf)

	// The open segment as a following Reader sees it (follow.go). omu
	// guards odb and oseg; a Reader holds it shared for the whole of a read
	// transaction, and the writer takes it exclusively before it closes the
	// segment, so a reader never touches a closed handle. omu is never
	// taken while waiting on anything else (w.mu is not taken under it).
	omu       sync.RWMutex
	odb       *bolt.DB
	oseg      Segment
	committed atomic.Uint64 // the last seq whose append committed
}

// publishEvery bounds how often the advisory writer state is rewritten.
const publishEvery = 100 * time.Millisecond

// OpenWriter opens dir for appending, creating it if needed. An open segment
// left by a crashed writer is sealed first.
func OpenWriter(dir string, opts Options) (*Writer, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	lock, err := lockDir(dir, time.Second)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, opts: opts, log: opts.Logger, lock: lock}
	if err := w.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	return w, nil
}

// recover seals leftover open segments and finds the position to append at.
func (w *Writer) recover() error {
	l, opens, err := listAll(w.dir)
	if err != nil {
		return err
	}
	if len(opens) > 0 {
		if err := w.sealLeftovers(l.Sealed, opens); err != nil {
			return err
		}
		if l, err = List(w.dir); err != nil {
			return err
		}
	}
	_ = os.Remove(filepath.Join(w.dir, endedName))
	w.next = l.NextSeq()
	if len(l.Sealed) == 0 {
		// A spool recreated for a state file whose checkpoint had passed 1
		// numbers on from there (binding).
		id, ok, err := ReadIdentity(w.dir)
		if err != nil {
			return err
		}
		if ok && id.FirstSeq > w.next {
			w.next = id.FirstSeq
		}
	}
	w.committed.Store(w.next - 1)
	for _, s := range l.Sealed {
		w.sealedBytes += s.Size
	}
	if len(l.Sealed) == 0 {
		return nil
	}
	lastSeg := l.Sealed[len(l.Sealed)-1]
	m, err := ReadMeta(lastSeg)
	if err != nil {
		return fmt.Errorf("cannot find the spool's position: %w", err)
	}
	if w.opts.Source != "" && m.Source != "" && !SameSource(m.Source, w.opts.Source) {
		return &SourceError{File: lastSeg.Path, Have: m.Source, Want: w.opts.Source}
	}
	if w.opts.Source == "" {
		w.opts.Source = m.Source
	}
	e, err := readOne(lastSeg, lastSeg.Last)
	if err != nil {
		return fmt.Errorf("cannot find the spool's position: %w", err)
	}
	w.last, w.hasLast = e, true
	return nil
}

// Last returns the last entry in the spool, if any: where the reader resumes.
func (w *Writer) Last() (Entry, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.hasLast
}

// NextSeq is the seq the next appended entry gets.
func (w *Writer) NextSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// Append adds raws to the spool in one transaction and returns the seq of
// the first and last of them. Every raw must be an oplog entry with a ts. It
// blocks while the spool is at MaxBytes.
func (w *Writer) Append(ctx context.Context, raws []bson.Raw) (first, last uint64, err error) {
	if len(raws) == 0 {
		return 0, 0, nil
	}
	var firstTS, lastTS bson.Timestamp
	for i, raw := range raws {
		if len(raw) > MaxEntryBytes {
			return 0, 0, fmt.Errorf("entry %d of the batch is %d bytes, over the %d-byte limit: %s", i, len(raw), MaxEntryBytes, abbrev(raw))
		}
		ts, ok, valid := scanEntry(raw)
		if !valid { // not a plain document: the driver judges it
			if err := validate(raw); err != nil {
				return 0, 0, fmt.Errorf("entry %d of the batch is not valid BSON: %w", i, err)
			}
			ts, ok = entryTS(raw)
		}
		if !ok {
			return 0, 0, fmt.Errorf("entry %d of the batch has no ts timestamp: %s", i, abbrev(raw))
		}
		if i == 0 {
			firstTS = ts
		}
		lastTS = ts
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, 0, fmt.Errorf("spool writer is closed")
	}
	if err := w.waitForRoom(ctx); err != nil {
		return 0, 0, err
	}
	var full diskFull
	for {
		before := w.next
		first, last, err = w.appendOnce(raws, firstTS, lastTS)
		if w.next != before { // committed; err is the seal after it
			full.done(w)
			if err != nil && isNoSpace(err) {
				// The segment is remembered unsealed and sealed before any
				// other opens (unsealed.go): the batch is safe, the full
				// disk is waited out at the next append.
				w.log.WithError(err).WithFields(logrus.Fields{"first_seq": first, "last_seq": last}).
					Warn("spool disk is full: the segment stays open until it can be sealed")
				err = nil
			}
			return first, last, err
		}
		if !w.isDiskFull(err, raws) {
			return 0, 0, err
		}
		// Nothing of this batch committed: the same seqs go again once
		// there is room, so nothing is appended twice and no seq is skipped.
		if err := full.wait(ctx, w, raws, err); err != nil {
			return 0, 0, err
		}
	}
}

// appendOnce appends raws in one transaction, opening a segment if needed.
// Called with w.mu held.
func (w *Writer) appendOnce(raws []bson.Raw, firstTS, lastTS bson.Timestamp) (first, last uint64, err error) {
	if w.db == nil {
		if err := w.openSegment(); err != nil {
			return 0, 0, fmt.Errorf("append seq %d-%d: %w", w.next, w.next+uint64(len(raws))-1, err)
		}
	}

	first = w.next
	err = w.db.Update(func(tx *bolt.Tx) error {
		eb, err := tx.CreateBucketIfNotExists(bucketEntries)
		if err != nil {
			return err
		}
		eb.FillPercent = 1.0
		mb, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if mb.Get(metaFirstSeq) == nil {
			if err := putAll(mb, metaFirstSeq, seqKey(first), metaFirstTS, bsonx.TSBytes(firstTS),
				metaSource, []byte(w.opts.Source), metaVersion, seqKey(FormatVersion)); err != nil {
				return err
			}
		}
		buf := w.batchBuf(raws)
		for i, raw := range raws {
			k, v := encodeEntry(buf, first+uint64(i), raw)
			buf = buf[len(k)+len(v):]
			if err := eb.Put(k, v); err != nil {
				return err
			}
		}
		last = first + uint64(len(raws)) - 1
		if err := putAll(mb, metaLastSeq, seqKey(last), metaLastTS, bsonx.TSBytes(lastTS)); err != nil {
			return err
		}
		failpoint.Hit("spool-mid-append") // entries written, transaction not committed
		return nil
	})
	w.releaseBatch() // the transaction is over: bbolt holds no reference into it
	if err != nil {
		return 0, 0, fmt.Errorf("append seq %d-%d to %s: %w", first, first+uint64(len(raws))-1, w.seg.Name(), err)
	}
	w.next = last + 1
	w.committed.Store(last) // bbolt synced the commit: a follower may read it
	w.segEntries += uint64(len(raws))
	// The file's size after the commit (a write transaction's own Size is
	// the size before its commit): what the segment takes on disk.
	size := w.openBytes
	if fi, err := os.Stat(w.seg.Path); err == nil {
		size = fi.Size()
	}
	w.openBytes = size
	lastRaw := make(bson.Raw, len(raws[len(raws)-1]))
	copy(lastRaw, raws[len(raws)-1])
	w.last, w.hasLast = Entry{Seq: last, TS: lastTS, Raw: lastRaw}, true
	if time.Since(w.published) >= publishEvery {
		w.publish()
	}

	if w.opts.OnAppend != nil {
		w.opts.OnAppend()
	}
	if size >= w.opts.SegmentMaxBytes {
		if err := w.sealLocked(); err != nil {
			return first, last, err
		}
	}
	return first, last, nil
}

func putAll(b *bolt.Bucket, kv ...[]byte) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := b.Put(kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) openSegment() error {
	// Never two open segments: the older one is sealed first, or nothing
	// is appended (the seqs would be in two open files, in no order a
	// reader or a restart can trust).
	if err := w.finishSeal(); err != nil {
		return err
	}
	path := filepath.Join(w.dir, openName(w.next))
	_, statErr := os.Lstat(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		// A file this call created holds no commit (a full disk cut its
		// creation short): leave none behind for the next attempt or the
		// next start to trip over.
		if os.IsNotExist(statErr) {
			_ = os.Remove(path)
		}
		return fmt.Errorf("create spool segment %s: %w", path, err)
	}
	w.db = db
	w.seg = Segment{Path: path, First: w.next, Open: true}
	w.omu.Lock()
	w.odb, w.oseg = db, w.seg
	w.omu.Unlock()
	w.segEntries = 0
	w.openBytes = 0
	w.timer = time.AfterFunc(w.opts.SealInterval, w.sealOnTimer)
	return nil
}

func (w *Writer) sealOnTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if (w.db == nil && w.unsealed == nil) || w.closed {
		return
	}
	if err := w.sealLocked(); err != nil {
		w.log.WithError(err).Error("seal on interval failed")
	}
}

// Seal closes the open segment and renames it sealed, if it holds entries.
func (w *Writer) Seal() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sealLocked()
}

// sealLocked seals the open segment, or finishes the seal of one whose
// rename failed before. When it fails, the segment is left unsealed and a
// retry is scheduled. Called with w.mu held.
func (w *Writer) sealLocked() error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	err := w.closeSegment()
	if err == nil {
		err = w.finishSeal()
	}
	if err != nil {
		w.retrySealLater()
	}
	return err
}

// closeSegment closes the open segment's bbolt file and marks it unsealed:
// finishSeal renames it. Called with w.mu held.
func (w *Writer) closeSegment() error {
	if w.db == nil {
		return nil
	}
	db, seg, n := w.db, w.seg, w.segEntries
	w.db = nil
	// Hand the segment back from followers before closing it: this waits
	// for a read in progress, and later reads go to the sealed file.
	w.omu.Lock()
	w.odb = nil
	w.omu.Unlock()
	if n > 0 {
		seg.Last = seg.First + n - 1
	}
	// Remembered before the close: whatever fails from here on, this
	// file is the one to seal before any other segment opens.
	w.unsealed = &seg
	if err := db.Close(); err != nil {
		return fmt.Errorf("close spool segment %s: %w", seg.Name(), err)
	}
	return nil
}

// publish writes the advisory writer state for other processes.
func (w *Writer) publish() {
	w.published = time.Now()
	st := WriterState{PID: os.Getpid(), UpdatedAt: w.published.UTC()}
	if w.db != nil {
		st.Segment, st.FirstSeq, st.Entries = w.seg.Name(), w.seg.First, w.segEntries
		st.LastSeq = w.seg.First + w.segEntries - 1
		st.LastTS = uint64(w.last.TS.T)<<32 | uint64(w.last.TS.I)
	}
	if err := writeState(w.dir, st); err != nil {
		w.log.WithError(err).Debug("publish writer state")
	}
}

// MarkEnded seals the open segment and marks the spool as complete: an
// applier told to exit when drained stops after the last entry.
func (w *Writer) MarkEnded() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.sealLocked(); err != nil {
		return err
	}
	path := filepath.Join(w.dir, endedName)
	if err := os.WriteFile(path, []byte(strconv.FormatUint(w.next-1, 10)+"\n"), 0o600); err != nil {
		return err
	}
	return syncDir(w.dir)
}

// Close seals the open segment and releases the spool.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.sealLocked()
	w.closed = true
	if w.timer != nil { // a retry of a seal that failed: the next start seals it
		w.timer.Stop()
		w.timer = nil
	}
	_ = os.Remove(filepath.Join(w.dir, stateName))
	w.lock.Close()
	return err
}

func abbrev(raw bson.Raw) string {
	s := raw.String()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
