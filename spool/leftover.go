package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
)

// What a leftover open segment's bbolt header says of it. bbolt creates a
// file in one write of four pages (two meta pages with txid 0 and 1, an
// empty freelist, an empty leaf), then fsyncs; every commit after that
// writes its meta page, with the next txid, over the older of the two. So:
//   - a file shorter than four pages, or with no valid meta page at all and
//     no more than four pages, was cut short while being created;
//   - a file whose valid meta pages all have txid 0 or 1 never committed;
//   - a file with a valid meta page of txid 2 or more committed entries
//     (an append writes its entries and the meta bucket in one commit).
//
// The first two hold no entry; the third must never be dropped.

const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2
	// A meta page: the 16-byte page header, then magic, version, pageSize,
	// flags (uint32 each), root bucket (16), freelist, pgid, txid (uint64
	// each), and the checksum (FNV-64a of the 56 bytes before it).
	metaOff, metaSumLen = 16, 56
	boltInitPages       = 4
)

// boltMeta is one meta page as read from the file.
type boltMeta struct {
	valid    bool
	pageSize int64
	txid     uint64
}

// readBoltMeta reads the meta page at off, if the file reaches it.
func readBoltMeta(f io.ReaderAt, off int64) boltMeta {
	var b [metaOff + metaSumLen + 8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}
	}
	m := b[metaOff:]
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if binary.LittleEndian.Uint32(m[0:]) != boltMagic || binary.LittleEndian.Uint32(m[4:]) != boltVersion ||
		binary.LittleEndian.Uint64(m[metaSumLen:]) != h.Sum64() {
		return boltMeta{}
	}
	return boltMeta{valid: true, pageSize: int64(binary.LittleEndian.Uint32(m[8:])), txid: binary.LittleEndian.Uint64(m[48:])}
}

// leftoverHeader is what the first pages of a leftover open segment say.
type leftoverHeader struct {
	size      int64
	pageSize  int64  // from a valid meta page, else this machine's
	valid     int    // valid meta pages found
	committed uint64 // the newest valid txid of a commit (2 or more); 0: none
}

func readLeftoverHeader(path string) (leftoverHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return leftoverHeader{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return leftoverHeader{}, err
	}
	h := leftoverHeader{size: fi.Size(), pageSize: int64(os.Getpagesize())}
	// Meta page 1 sits one page in: where meta page 0 says, and, when it
	// is unreadable, at every page size bbolt may have used. A valid meta
	// page anywhere it may be counts.
	offs := []int64{0}
	m0 := readBoltMeta(f, 0)
	if m0.valid {
		h.pageSize = m0.pageSize
		offs = append(offs, m0.pageSize)
	} else {
		offs = append(offs, h.pageSize, 4096, 8192, 16384, 32768, 65536)
	}
	seen := map[int64]bool{}
	for _, off := range offs {
		if seen[off] {
			continue
		}
		seen[off] = true
		m := readBoltMeta(f, off)
		if !m.valid {
			continue
		}
		h.valid++
		if m.txid >= 2 && m.txid > h.committed {
			h.committed = m.txid
		}
	}
	return h, nil
}

// torn says whether the file holds no committed transaction and cannot be
// opened as it is, and why; ok false with a reason means it cannot be told
// safe (refuse), ok false without one means bbolt may open it.
func (h leftoverHeader) torn() (reason string, ok bool) {
	full := boltInitPages * h.pageSize
	switch {
	case h.committed > 0:
		return "", false
	case h.valid == 0 && h.size > full:
		return fmt.Sprintf("neither bbolt meta page is valid and the file holds %d bytes, more than a new segment's %d: it may hold committed entries", h.size, full), false
	case h.valid == 0:
		return fmt.Sprintf("%d bytes and no valid bbolt meta page: its creation (%d bytes in one write) was cut short, no transaction was ever committed", h.size, full), true
	case h.size < full:
		return fmt.Sprintf("%d bytes, shorter than a new segment's %d, and its meta pages record no commit: its creation was cut short", h.size, full), true
	}
	return "", false
}

// sealLeftover seals (or removes, when empty) an open segment left by a
// writer that did not close it: bbolt rolls it back to its last commit. A
// file that never committed a transaction but cannot be opened (a crash or
// a full disk while it was created) is set aside as <name>.torn; a file
// that committed entries and cannot be opened is refused, never dropped.
func (w *Writer) sealLeftover(seg Segment) error {
	p, err := w.inspectLeftover(seg)
	if err != nil {
		return err
	}
	return w.applyLeftover(p)
}

// leftoverPlan is what recovery does with a leftover open segment, decided
// before anything is changed.
type leftoverPlan struct {
	seg   Segment
	h     leftoverHeader
	aside string // not "": it holds no committed entry, set aside for this reason
	empty bool   // a bbolt file without entries: removed
	meta  Meta   // otherwise: sealed as meta.First-meta.Last
}

// holds tells whether the plan seals committed entries.
func (p leftoverPlan) holds() bool { return p.aside == "" && !p.empty }

// inspectLeftover reads a leftover open segment and decides what to do
// with it; it changes nothing.
func (w *Writer) inspectLeftover(seg Segment) (p leftoverPlan, err error) {
	h, err := readLeftoverHeader(seg.Path)
	if err != nil {
		return p, &CorruptError{File: seg.Path, First: seg.First, Reason: "cannot read leftover open segment: " + err.Error()}
	}
	p = leftoverPlan{seg: seg, h: h}
	if reason, torn := h.torn(); torn {
		p.aside = reason
		return p, nil
	} else if reason != "" {
		return p, &CorruptError{File: seg.Path, First: seg.First, Reason: "leftover open segment cannot be recovered: " + reason}
	}
	if h.committed > 0 {
		defer func() { // whatever stops it, say what would be lost
			var ce *CorruptError
			if errors.As(err, &ce) && !strings.HasPrefix(ce.Reason, "leftover") {
				ce.Reason = fmt.Sprintf("leftover open segment holds committed entries (its meta page records transaction %d): %s", h.committed, ce.Reason)
			}
		}()
		if err := checkFileSize(seg); err != nil {
			return p, &CorruptError{File: seg.Path, First: seg.First, Reason: fmt.Sprintf(
				"leftover open segment holds committed entries (its meta page records transaction %d) but is damaged: %v", h.committed, err)}
		}
	}
	db, err := openLeftover(seg)
	if err != nil {
		if h.committed == 0 {
			p.aside = "its meta pages record no commit and bbolt cannot open it: " + err.Error()
			return p, nil
		}
		return p, &CorruptError{File: seg.Path, First: seg.First, Reason: fmt.Sprintf(
			"leftover open segment holds committed entries (its meta page records transaction %d) but cannot be opened: %v", h.committed, err)}
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(seg, &err)
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			p.empty = true
			return nil
		}
		p.meta, err = readMeta(tx, seg, true)
		return err
	})
	db.Close()
	return p, err
}

// applyLeftover carries out what inspectLeftover decided.
func (w *Writer) applyLeftover(p leftoverPlan) error {
	seg := p.seg
	switch {
	case p.aside != "":
		return w.setAside(seg, p.h, p.aside)
	case p.empty:
		w.log.WithField("segment", seg.Name()).Info("removing empty leftover segment")
		return os.Remove(seg.Path)
	}
	w.log.WithFields(logrus.Fields{"segment": seg.Name(), "first_seq": p.meta.First, "last_seq": p.meta.Last}).
		Info("sealing segment left open by a previous writer")
	if err := rename(seg.Path, filepath.Join(w.dir, sealedName(p.meta.First, p.meta.Last))); err != nil {
		return fmt.Errorf("seal leftover open segment %s (seq %d-%d): %w", seg.Path, p.meta.First, p.meta.Last, err)
	}
	return syncDir(w.dir)
}

// setAside renames a leftover open segment that holds no committed entry to
// <name>.torn (or .torn.N), which the spool ignores; an empty file is
// removed.
func (w *Writer) setAside(seg Segment, h leftoverHeader, reason string) error {
	log := w.log.WithFields(logrus.Fields{"segment": seg.Path, "bytes": h.size, "why_safe": reason})
	if h.size == 0 {
		if err := os.Remove(seg.Path); err != nil {
			return fmt.Errorf("remove empty leftover segment %s: %w", seg.Path, err)
		}
		log.Warn("removed an empty leftover open segment: it holds no entry")
		return syncDir(w.dir)
	}
	to := seg.Path + ".torn"
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); os.IsNotExist(err) {
			break
		}
		to = seg.Path + ".torn." + strconv.Itoa(i)
	}
	if err := os.Rename(seg.Path, to); err != nil {
		return fmt.Errorf("set aside leftover segment %s: %w", seg.Path, err)
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	log.WithField("renamed_to", to).Warn("leftover open segment holds no committed entry: set aside, the spool continues without it (the file can be deleted)")
	return nil
}

// openLeftover opens a leftover open segment read-write; a panic or memory
// fault inside bbolt (a damaged file) comes back as an error.
func openLeftover(seg Segment) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(seg, &err)
	return bolt.Open(seg.Path, 0o600, &bolt.Options{Timeout: time.Second})
}
