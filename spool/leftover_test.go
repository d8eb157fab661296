package spool

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
)

// logCapture is a logger that keeps its entries for a test to look at.
type logCapture struct {
	mu      sync.Mutex
	entries []*logrus.Entry
}

func (c *logCapture) Levels() []logrus.Level { return logrus.AllLevels }
func (c *logCapture) Fire(e *logrus.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, e)
	return nil
}

func newLogCapture() (*logCapture, logrus.FieldLogger) {
	c := &logCapture{}
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.AddHook(c)
	return c, l
}

// find returns the first entry whose message contains msg.
func (c *logCapture) find(msg string) (*logrus.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if strings.Contains(e.Message, msg) {
			return e, true
		}
	}
	return nil, false
}

// newSegmentPrefix is the first n bytes of a segment file as the writer
// creates it (bbolt's four initial pages): what a crash or a full disk
// leaves when the creation is cut short.
func newSegmentPrefix(t *testing.T, n int) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), openName(1))
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < n {
		t.Fatalf("a new segment is %d bytes, want at least %d", len(b), n)
	}
	return b[:n]
}

// A leftover open segment that never committed (its creation cut short) is
// set aside, logged with why that is safe, and the spool goes on from the
// seq after the last sealed entry.
func TestWriter_TornOpenSegmentSetAside(t *testing.T) {
	for _, tc := range []struct {
		name string
		torn func(t *testing.T) []byte
	}{
		{"first page of a new segment", func(t *testing.T) []byte { return newSegmentPrefix(t, 4096) }},
		{"both meta pages, no freelist", func(t *testing.T) []byte { return newSegmentPrefix(t, 2*os.Getpagesize()) }},
		{"first page unwritten", func(t *testing.T) []byte { return make([]byte, 4096) }},
		{"whole, freelist page garbage", func(t *testing.T) []byte {
			b := newSegmentPrefix(t, 4*os.Getpagesize())
			copy(b[2*os.Getpagesize():], strings.Repeat("\xee", os.Getpagesize()))
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openTestWriter(t, dir, nil)
			for b := 0; b < 3; b++ {
				if _, _, err := w.Append(t.Context(), makeBatch(b, 10, 20)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			torn := filepath.Join(dir, openName(31))
			if err := os.WriteFile(torn, tc.torn(t), 0o600); err != nil {
				t.Fatal(err)
			}

			logs, log := newLogCapture()
			w, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: log})
			if err != nil {
				t.Fatalf("OpenWriter with a torn open segment: %v", err)
			}
			defer w.Close()
			e, ok := logs.find("holds no committed entry")
			if !ok || e.Data["segment"] != torn || e.Data["renamed_to"] != torn+".torn" || e.Data["why_safe"] == "" {
				t.Fatalf("no log line naming the set-aside file and why it is safe; got %+v", e)
			}
			if _, err := os.Stat(torn + ".torn"); err != nil {
				t.Fatalf("the torn file was not kept aside: %v", err)
			}
			if w.NextSeq() != 31 {
				t.Fatalf("next seq %d, want 31", w.NextSeq())
			}
			if _, _, err := w.Append(t.Context(), makeBatch(3, 10, 20)); err != nil {
				t.Fatal(err)
			}
			if err := w.Seal(); err != nil {
				t.Fatal(err)
			}
			es := readAll(t, dir, 1)
			checkContiguous(t, es, 1)
			if len(es) != 40 {
				t.Fatalf("read back %d entries, want 40", len(es))
			}
		})
	}
}

// A leftover open segment that committed entries is refused when it cannot
// be opened, naming the file and that it holds committed entries; it is
// left where it is.
func TestWriter_DamagedOpenSegmentWithCommitsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"cut to its first page", func(t *testing.T, p string) { truncateTo(t, p, 4096) }},
		{"cut in half", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			truncateTo(t, p, fi.Size()/2)
		}},
		{"meta page 0 torn", func(t *testing.T, p string) {
			// The other meta page still records commits: never dropped.
			overwrite(t, p, 16, make([]byte, 64))
			truncateTo(t, p, int64(os.Getpagesize())+100)
		}},
		{"data pages overwritten", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			overwrite(t, p, 4*int64(os.Getpagesize()), []byte(strings.Repeat("\xff", int(fi.Size())-4*os.Getpagesize())))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openTestWriter(t, dir, nil)
			for b := 0; b < 5; b++ { // five commits: both meta pages record one
				if _, _, err := w.Append(t.Context(), makeBatch(b, 50, 100)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			sealed := mustList(t, dir).Sealed
			if len(sealed) != 1 {
				t.Fatalf("setup: %d sealed segments, want 1", len(sealed))
			}
			// As a crashed writer leaves it: still named open.
			open := filepath.Join(dir, openName(1))
			if err := os.Rename(sealed[0].Path, open); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, open)
			before, _ := os.ReadFile(open)

			_, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: quietLogger()})
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != open || !strings.Contains(err.Error(), "holds committed entries") {
				t.Fatalf("OpenWriter: %v; want a CorruptError naming %s and its committed entries", err, open)
			}
			after, rerr := os.ReadFile(open)
			if rerr != nil || string(after) != string(before) {
				t.Fatalf("the refused file was changed or moved: %v", rerr)
			}
		})
	}
}

func truncateTo(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

func overwrite(t *testing.T, p string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
