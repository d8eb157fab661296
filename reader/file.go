package reader

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

const maxEntryBytes = spool.MaxEntryBytes

// FileSource reads a mongodump oplog.bson: a stream of BSON documents,
// optionally gzip-compressed.
type FileSource struct {
	Path string
}

// fileScanner reads BSON documents one by one, naming the byte offset of
// anything that is not one.
type fileScanner struct {
	path   string
	r      *bufio.Reader
	offset int64
	n      int
	closer io.Closer
}

func openFile(path string) (*fileScanner, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("oplog file: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(2)
	s := &fileScanner{path: path, r: br, closer: f}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("oplog file %s: bad gzip header: %w", path, err)
		}
		s.r = bufio.NewReaderSize(gz, 1<<20)
	}
	return s, nil
}

// next returns the next document (a fresh buffer) or io.EOF at a clean end.
func (s *fileScanner) next() (bson.Raw, error) {
	var hdr [4]byte
	n, err := io.ReadFull(s.r, hdr[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, s.errorf("truncated entry (%d of 4 length bytes): %v", n, err)
	}
	size := int(binary.LittleEndian.Uint32(hdr[:]))
	if size < 5 {
		return nil, s.errorf("not BSON: document length %d", size)
	}
	if size > maxEntryBytes {
		return nil, s.errorf("entry of %d bytes is over MongoDB's 16 MB document limit (or the file is not BSON)", size)
	}
	doc := make([]byte, size)
	copy(doc, hdr[:])
	if n, err := io.ReadFull(s.r, doc[4:]); err != nil {
		return nil, s.errorf("truncated entry: %d of %d bytes", n+4, size)
	}
	raw := bson.Raw(doc)
	if err := raw.Validate(); err != nil {
		return nil, s.errorf("not BSON: %v", err)
	}
	if _, _, ok := raw.Lookup("ts").TimestampOK(); !ok {
		return nil, s.errorf("not an oplog entry (no ts timestamp)")
	}
	s.offset += int64(size)
	s.n++
	return raw, nil
}

func (s *fileScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("oplog file %s: entry #%d at byte offset %d: %s", s.path, s.n+1, s.offset, fmt.Sprintf(format, args...))
}

func (s *fileScanner) Close() error { return s.closer.Close() }

// ErrFileMismatch means a file being re-spooled after a restart does not hold
// the entry the spool ends with.
// sameEntry compares two oplog entries byte for byte.
func sameEntry(a, b bson.Raw) bool { return bytes.Equal(a, b) }

var ErrFileMismatch = errors.New("oplog file does not match the spool")

// produce streams the file's entries after the spool's last entry.
func (fs FileSource) produce(ctx context.Context, last *bson.Raw, emit func(bson.Raw) error) error {
	s, err := openFile(fs.Path)
	if err != nil {
		return err
	}
	defer s.Close()
	var lastTS bson.Timestamp
	if last != nil {
		t, i, _ := last.Lookup("ts").TimestampOK()
		lastTS = bson.Timestamp{T: t, I: i}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := s.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if last != nil {
			t, i, _ := raw.Lookup("ts").TimestampOK()
			ts := bson.Timestamp{T: t, I: i}
			if ts.Before(lastTS) {
				continue
			}
			if ts.Equal(lastTS) {
				if !IsMarker(*last) && !sameEntry(raw, *last) {
					return fmt.Errorf("%w: entry at ts %d,%d differs from the spooled one", ErrFileMismatch, t, i)
				}
				continue
			}
		}
		if err := emit(raw); err != nil {
			return err
		}
	}
}
