package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

const (
	sealedExt = ".seg"
	openExt   = ".open"
)

var (
	bucketEntries = []byte("entries")
	bucketMeta    = []byte("meta")

	metaFirstSeq = []byte("first_seq")
	metaLastSeq  = []byte("last_seq")
	metaFirstTS  = []byte("first_ts")
	metaLastTS   = []byte("last_ts")
	metaSource   = []byte("source")
	metaVersion  = []byte("version")
)

// Segment is one file of the spool as its name describes it.
type Segment struct {
	Path  string
	First uint64 // first seq
	Last  uint64 // last seq; 0 for an open segment (its name does not say)
	Open  bool
	Size  int64
	MTime time.Time
}

// Name is the segment's file name.
func (s Segment) Name() string { return filepath.Base(s.Path) }

func sealedName(first, last uint64) string {
	return fmt.Sprintf("%020d-%020d%s", first, last, sealedExt)
}

func openName(first uint64) string { return fmt.Sprintf("%020d%s", first, openExt) }

// parseName reads a segment's sequence range from its file name.
func parseName(name string) (Segment, bool) {
	switch {
	case strings.HasSuffix(name, sealedExt):
		a, b, ok := strings.Cut(strings.TrimSuffix(name, sealedExt), "-")
		if !ok {
			return Segment{}, false
		}
		first, err1 := strconv.ParseUint(a, 10, 64)
		last, err2 := strconv.ParseUint(b, 10, 64)
		if err1 != nil || err2 != nil || first == 0 || last < first {
			return Segment{}, false
		}
		return Segment{First: first, Last: last}, true
	case strings.HasSuffix(name, openExt):
		first, err := strconv.ParseUint(strings.TrimSuffix(name, openExt), 10, 64)
		if err != nil || first == 0 {
			return Segment{}, false
		}
		return Segment{First: first, Open: true}, true
	}
	return Segment{}, false
}

// Listing is the spool directory as its file names describe it.
type Listing struct {
	Sealed []Segment // in seq order
	Open   *Segment  // the writer's open segment, if any
	Gaps   []GapError
}

// List reads the spool directory. It does not open any segment. Two open
// segments are an error: only a writer's start (recover) puts them in order.
func List(dir string) (Listing, error) {
	l, opens, err := listAll(dir)
	if err != nil {
		return Listing{}, err
	}
	if len(opens) > 1 {
		return Listing{}, fmt.Errorf("spool %s has %d open segments (%s): a seal failed and another segment was opened after it; the next writer start seals them in order, or refuses naming what is wrong", dir, len(opens), segNames(opens))
	}
	return l, nil
}

// listAll is List, with every open segment the directory holds, in seq
// order; l.Open is the newest.
func listAll(dir string) (l Listing, opens []Segment, err error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return Listing{}, nil, fmt.Errorf("read spool directory: %w", err)
	}
	for _, de := range des {
		s, ok := parseName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		s.Path = filepath.Join(dir, de.Name())
		if fi, err := de.Info(); err == nil {
			s.Size, s.MTime = fi.Size(), fi.ModTime()
		}
		if s.Open {
			opens = append(opens, s)
			continue
		}
		l.Sealed = append(l.Sealed, s)
	}
	sort.Slice(l.Sealed, func(i, j int) bool { return l.Sealed[i].First < l.Sealed[j].First })
	sort.Slice(opens, func(i, j int) bool { return opens[i].First < opens[j].First })
	if n := len(opens); n > 0 {
		l.Open = &opens[n-1]
	}
	for i := 1; i < len(l.Sealed); i++ {
		prev, cur := l.Sealed[i-1], l.Sealed[i]
		if cur.First <= prev.Last {
			return Listing{}, nil, fmt.Errorf("spool segments %s and %s overlap", prev.Name(), cur.Name())
		}
		if cur.First != prev.Last+1 {
			l.Gaps = append(l.Gaps, GapError{From: prev.Last + 1, To: cur.First - 1, Before: prev.Name(), After: cur.Name()})
		}
	}
	return l, opens, nil
}

func segNames(segs []Segment) string {
	names := make([]string, len(segs))
	for i, s := range segs {
		names[i] = s.Name()
	}
	return strings.Join(names, ", ")
}

// NextSeq is the seq the writer appends next, judged from the file names.
func (l Listing) NextSeq() uint64 {
	if n := len(l.Sealed); n > 0 {
		return l.Sealed[n-1].Last + 1
	}
	return 1
}

// Meta is what a segment's meta bucket says of it.
type Meta struct {
	First, Last     uint64
	FirstTS, LastTS bson.Timestamp
	Source          string
	Version         uint64
	Entries         uint64
}

// openReadOnly opens a sealed segment for reading.
func openReadOnly(path string) (*bolt.DB, error) {
	return bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
}

// guard turns a panic or memory fault inside bbolt (a damaged or truncated
// file) into a CorruptError for seg. Call it deferred, with a pointer to the
// function's error.
func guard(seg Segment, errp *error) {
	if r := recover(); r != nil {
		*errp = &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Reason: fmt.Sprint(r)}
	}
}

// ReadMeta opens a sealed segment read-only and returns its meta, checked
// against its file name.
func ReadMeta(seg Segment) (m Meta, err error) {
	return readMetaFile(seg, true)
}

// readMetaFile is ReadMeta; count also counts the entries (a walk over
// every page, with the file locked for reading all along).
func readMetaFile(seg Segment, count bool) (m Meta, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(seg, &err)

	if err := checkFileSize(seg); err != nil {
		return Meta{}, err
	}
	db, err := openReadOnly(seg.Path)
	if err != nil {
		return Meta{}, &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Reason: err.Error()}
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		m, err = readMeta(tx, seg, count)
		return err
	})
	return m, err
}

// readMeta reads and checks a segment's meta bucket. count also counts the
// entries (a walk over every page): for stat, not for the read path, which
// checks contiguity entry by entry.
func readMeta(tx *bolt.Tx, seg Segment, count bool) (Meta, error) {
	bad := func(reason string) error {
		return &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Reason: reason}
	}
	mb, eb := tx.Bucket(bucketMeta), tx.Bucket(bucketEntries)
	if mb == nil || eb == nil {
		return Meta{}, bad("missing meta or entries bucket")
	}
	m := Meta{
		First:   keySeqOr0(mb.Get(metaFirstSeq)),
		Last:    keySeqOr0(mb.Get(metaLastSeq)),
		FirstTS: bsonx.BytesTS(mb.Get(metaFirstTS)),
		LastTS:  bsonx.BytesTS(mb.Get(metaLastTS)),
		Source:  string(mb.Get(metaSource)),
		Version: keySeqOr0(mb.Get(metaVersion)),
	}
	m.Entries = m.Last - m.First + 1
	if count {
		m.Entries = uint64(eb.Stats().KeyN)
	}
	if m.Version != FormatVersion {
		return m, bad(fmt.Sprintf("format version %d, this build reads %d", m.Version, FormatVersion))
	}
	if m.First != seg.First || (!seg.Open && m.Last != seg.Last) {
		return m, bad(fmt.Sprintf("meta says seq %d-%d", m.First, m.Last))
	}
	if m.Last < m.First || m.Entries != m.Last-m.First+1 {
		return m, bad(fmt.Sprintf("holds %d entries for seq %d-%d", m.Entries, m.First, m.Last))
	}
	return m, nil
}

func keySeqOr0(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return keySeq(b)
}

// checkFileSize refuses a file too short to hold the pages its bbolt meta
// page claims: mapping past the end of a truncated file would fault.
func checkFileSize(seg Segment) error {
	f, err := os.Open(seg.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// bbolt keeps two meta pages (at page 0 and 1); each: page header (16
	// bytes), then magic, version, pageSize (uint32 each), flags, root bucket
	// (16), freelist (8), pgid (8), txid (8). The newer one counts.
	bad := func(reason string) error {
		return &CorruptError{File: seg.Path, First: seg.First, Last: seg.Last, Reason: reason}
	}
	var m0, m1 [72]byte
	if _, err := f.ReadAt(m0[:], 0); err != nil {
		return bad("file too short: " + err.Error())
	}
	pageSize := int64(le32(m0[24:]))
	if pageSize < 512 || pageSize > 1<<20 {
		return bad("not a segment file (bad page size)")
	}
	if _, err := f.ReadAt(m1[:], pageSize); err != nil {
		return bad("file too short: " + err.Error())
	}
	pgid := le64(m0[56:])
	if le64(m1[64:]) > le64(m0[64:]) {
		pgid = le64(m1[56:])
	}
	if need := int64(pgid) * pageSize; fi.Size() < need {
		return bad(fmt.Sprintf("file truncated: %d bytes, needs %d", fi.Size(), need))
	}
	return nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
