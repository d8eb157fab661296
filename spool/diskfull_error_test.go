package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// fakeFree makes the spool see the free space it holds (a negative value:
// the real figure). Installed once, before any writer runs, so that a
// writer never reads the variable while the test writes it.
func fakeFree(t *testing.T) *atomic.Int64 {
	t.Helper()
	var free atomic.Int64
	free.Store(-1)
	freeBytes = func(dir string) (int64, error) {
		if n := free.Load(); n >= 0 {
			return n, nil
		}
		return FreeBytes(dir)
	}
	t.Cleanup(func() { freeBytes = FreeBytes })
	return &free
}

// appendOrWait runs an append and tells whether it returned (with its
// error) or, instead, waited for disk space (as its log line says).
func appendOrWait(t *testing.T, w *Writer, logs *logCapture, raws []bson.Raw) (err error, waited bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, _, err := w.Append(ctx, raws); done <- err }()
	waitUntil(t, time.Minute, "the append to return or wait for space", func() bool {
		select {
		case err = <-done:
			return true
		default:
		}
		_, waited = logs.find("spool disk is full: waiting for space")
		return waited
	})
	if waited {
		cancel()
		<-done
	}
	cancel()
	return err, waited
}

// On a disk with less free space than the batch needs, an append that
// fails for another reason is returned with that reason, naming the
// segment and the seqs; it is not waited on as a full disk (it would fail
// the same way forever).
func TestWriter_OtherErrorsOnAFullDiskAreReturned(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string, w *Writer, fault *renameFault)
		want  error
		names []string
	}{
		{"a directory where the next segment goes", func(t *testing.T, dir string, w *Writer, _ *renameFault) {
			if err := w.Seal(); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, openName(11)), 0o700); err != nil {
				t.Fatal(err)
			}
		}, syscall.EISDIR, []string{"append seq 11-20", openName(11)}},
		{"a seal's rename fails with an I/O error", func(t *testing.T, dir string, w *Writer, fault *renameFault) {
			fault.fail(syscall.EIO)
			if err := w.Seal(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Seal: %v, want EIO", err)
			}
		}, syscall.EIO, []string{"append seq 11-20", openName(1), "seq 1-10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fault := faultRenames(t)
			free := fakeFree(t)
			logs, log := newLogCapture()
			w, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, _, err := w.Append(t.Context(), makeBatch(1, 10, 20)); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, dir, w, fault)
			free.Store(0)
			err, waited := appendOrWait(t, w, logs, makeBatch(2, 10, 20))
			if waited {
				t.Fatalf("the append waited for disk space; the error was not a want of space")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("append: %v, want %v", err, tc.want)
			}
			for _, s := range tc.names {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error does not name %q: %v", s, err)
				}
			}
		})
	}
}

// limitFileSize sets this process's file size limit (RLIMIT_FSIZE) until
// the returned function (also a cleanup) lifts it. A file growing past it
// fails with EFBIG (Go ignores SIGXFSZ). Only the test's own spool writes
// files meanwhile: tests in this package do not run in parallel.
func limitFileSize(t *testing.T, n int64) (lift func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(n)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatalf("set RLIMIT_FSIZE: %v", err)
	}
	var once atomic.Bool
	lift = func() {
		if once.CompareAndSwap(false, true) {
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Errorf("restore RLIMIT_FSIZE: %v", err)
			}
		}
	}
	t.Cleanup(lift)
	return lift
}

// A real failure of bbolt to grow its file (bbolt v1.5.0, DB.grow: "file
// resize error: %s", the ftruncate's EFBIG past RLIMIT_FSIZE): it is one of
// the growth errors whose cause bbolt does not wrap, so it counts as a full
// disk when the filesystem has less free space than the batch needs, and is
// returned, naming the segment and seqs, when it has enough. Waited on, the
// append goes through once the file may grow.
func TestIsDiskFull_BboltGrowthError(t *testing.T) {
	dir := t.TempDir()
	free := fakeFree(t)
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, _, err := w.Append(t.Context(), makeBatch(1, 1, 20)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, openName(1)))
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, fi.Size())
	batch := makeBatch(2, 100, 2000) // ~200 KB: the file must grow

	free.Store(1 << 40)
	_, _, err = w.Append(t.Context(), batch)
	_, cause, ok := bboltGrowthCause(err)
	seg := filepath.Join(dir, openName(1))
	if want := (&os.PathError{Op: "truncate", Path: seg, Err: syscall.EFBIG}).Error(); !ok || cause != want {
		t.Fatalf("append past the file size limit: %v; want bbolt's \"file resize error: %s\"", err, want)
	}
	if want := fmt.Sprintf("append seq 2-101 to %s: file resize error: ", openName(1)); !strings.Contains(err.Error(), want) {
		t.Fatalf("the error does not say %q: %v", want, err)
	}
	if w.isDiskFull(err, batch) {
		t.Fatal("a growth error with enough free space counted as a full disk")
	}
	free.Store(0)
	if !w.isDiskFull(err, batch) {
		t.Fatal("a growth error with less free space than the batch needs did not count as a full disk")
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := backgroundAppend(ctx, w, batch)
	waitBlocked(t, done, logs, "spool disk is full: waiting for space", "the append to wait for space", nil)
	lift()
	free.Store(-1)
	if err := appendResult(t, done, "the append once the file may grow"); err != nil {
		t.Fatal(err)
	}
	sealedHolds(t, w, dir, 101)
}

// Which errors count as a full disk, by the free space the filesystem has:
// the growth errors are formatted as bbolt v1.5.0 formats them (db.go,
// DB.grow and DB.allocate; TestIsDiskFull_BboltGrowthError gets a real one).
func TestIsDiskFull_Classes(t *testing.T) {
	free := fakeFree(t)
	w := &Writer{dir: t.TempDir()}
	raws := makeBatch(1, 10, 100)
	wrap := func(err error) error { return fmt.Errorf("append seq 1-10 to %s: %w", openName(1), err) }
	seg := filepath.Join(w.dir, openName(1))
	// DB.grow formats os.File.Truncate's and Sync's *os.PathError with %s.
	resize := func(errno syscall.Errno) error {
		return wrap(fmt.Errorf("file resize error: %s", &os.PathError{Op: "truncate", Path: seg, Err: errno}))
	}
	sync := func(errno syscall.Errno) error {
		return wrap(fmt.Errorf("file sync error: %s", &os.PathError{Op: "sync", Path: seg, Err: errno}))
	}
	for _, tc := range []struct {
		name                string
		err                 error
		whenLow, whenPlenty bool
	}{
		{"ENOSPC from a write", wrap(&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), true, true},
		{"EDQUOT from fdatasync", wrap(syscall.EDQUOT), true, true},
		{"ENOSPC from a rename", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.ENOSPC}, true, true},
		{"resize, ENOSPC", resize(syscall.ENOSPC), true, true},
		{"resize, EDQUOT", resize(syscall.EDQUOT), true, true},
		{"resize, EFBIG", resize(syscall.EFBIG), true, false},
		{"sync, ENOSPC", sync(syscall.ENOSPC), true, true},
		{"sync, EIO", sync(syscall.EIO), false, false}, // the device's error, not the space's
		{"remap, ENOMEM", wrap(fmt.Errorf("mmap allocate error: %s", syscall.ENOMEM)), true, false},
		{"EIO from a write", wrap(&os.PathError{Op: "write", Path: "x", Err: syscall.EIO}), false, false},
		{"EACCES creating a segment", wrap(&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}), false, false},
		{"closed segment", wrap(berrors.ErrDatabaseNotOpen), false, false},
		{"bbolt's file size check", wrap(fmt.Errorf("file size too small %d", 4096)), false, false},
		{"damaged segment", &CorruptError{File: "x", First: 1, Reason: "entry missing"}, false, false},
		{"an unrelated text around a prefix", wrap(errors.New("cannot open: file resize error: no space left on device")), false, false},
	} {
		free.Store(0)
		if got := w.isDiskFull(tc.err, raws); got != tc.whenLow {
			t.Errorf("%s, no free space: isDiskFull %v, want %v (%v)", tc.name, got, tc.whenLow, tc.err)
		}
		free.Store(1 << 40)
		if got := w.isDiskFull(tc.err, raws); got != tc.whenPlenty {
			t.Errorf("%s, free space: isDiskFull %v, want %v (%v)", tc.name, got, tc.whenPlenty, tc.err)
		}
	}
}
