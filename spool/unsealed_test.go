package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// renameFault makes the spool's renames fail with an errno while set.
type renameFault struct {
	errno atomic.Value // syscall.Errno; 0: renames work
	calls atomic.Int32 // renames that failed
	// done, when set, makes a failing rename rename the file first: what a
	// failed directory sync after a rename leaves.
	done atomic.Bool
}

// faultRenames installs a renameFault for the test; set it to make renames
// fail. The function is installed once, before any writer runs, so that a
// writer's timer never reads the variable while the test writes it.
func faultRenames(t *testing.T) *renameFault {
	t.Helper()
	f := &renameFault{}
	f.errno.Store(syscall.Errno(0))
	rename = func(from, to string) error {
		if e := f.errno.Load().(syscall.Errno); e != 0 {
			f.calls.Add(1)
			if f.done.Load() {
				if err := os.Rename(from, to); err != nil {
					return err
				}
			}
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: e}
		}
		return os.Rename(from, to)
	}
	t.Cleanup(func() { rename = os.Rename })
	return f
}

func (f *renameFault) fail(e syscall.Errno) { f.errno.Store(e) }

// openFiles lists the open segments in dir, as names.
func openFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"+openExt))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	return names
}

// checkBatches checks that es, read from seq 1, are batches 1, 2, ... of
// size entries each, every entry once and in order.
func checkBatches(t *testing.T, es []Entry, size, batches int) {
	t.Helper()
	checkContiguous(t, es, 1)
	if len(es) != size*batches {
		t.Fatalf("read %d entries, want %d batches of %d", len(es), batches, size)
	}
	for i, e := range es {
		b, _ := bson.Raw(e.Raw).LookupErr("o", "batch")
		idx, _ := bson.Raw(e.Raw).LookupErr("o", "idx")
		if int(b.Int32()) != 1+i/size || int(idx.Int32()) != i%size {
			t.Fatalf("seq %d holds batch %d entry %d, want batch %d entry %d", e.Seq, b.Int32(), idx.Int32(), 1+i/size, i%size)
		}
	}
}

// A seal whose rename fails for want of space (the bbolt file closed, still
// named open, its entries committed): the next append does not open a
// second open segment; it waits, as at any full disk, finishes the seal
// once the rename works, and appends. A restart then reads every entry
// once, in order.
func TestWriter_FailedSealFinishedBeforeTheNextSegment(t *testing.T) {
	const size = 10
	dir := t.TempDir()
	fault := faultRenames(t)
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, _, err := w.Append(ctx, makeBatch(1, size, 20)); err != nil {
		t.Fatal(err)
	}
	fault.fail(syscall.ENOSPC)
	if err := w.Seal(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), openName(1)) {
		t.Fatalf("Seal with the rename failing: %v; want ENOSPC naming %s", err, openName(1))
	}

	done := backgroundAppend(ctx, w, makeBatch(2, size, 20))
	waitBlocked(t, done, logs, "spool disk is full: waiting for space", "the append to wait for the seal (the older segment unsealed)", nil)
	if got := openFiles(t, dir); len(got) != 1 || got[0] != openName(1) {
		t.Fatalf("open segments while the seal fails: %v, want only %s", got, openName(1))
	}
	fault.fail(0)
	if err := appendResult(t, done, "the append once the rename works"); err != nil {
		t.Fatalf("append after the rename works again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, sealedName(1, size))); err != nil {
		t.Fatalf("the first segment was not sealed: %v", err)
	}
	if _, _, err := w.Append(ctx, makeBatch(3, size, 20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = openTestWriter(t, dir, nil)
	if w.NextSeq() != 3*size+1 {
		t.Fatalf("after the restart the next seq is %d, want %d", w.NextSeq(), 3*size+1)
	}
	if _, _, err := w.Append(ctx, makeBatch(4, size, 20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkBatches(t, readAll(t, dir, 1), size, 4)
}

// A segment whose rename went through but was reported failed (the
// directory sync after it failed): the retry finds it renamed and does not
// fail on it.
func TestWriter_FailedSealAfterTheRename(t *testing.T) {
	dir := t.TempDir()
	fault := faultRenames(t)
	w := openTestWriter(t, dir, nil)
	defer w.Close()
	if _, _, err := w.Append(t.Context(), makeBatch(1, 10, 20)); err != nil {
		t.Fatal(err)
	}
	fault.done.Store(true)
	fault.fail(syscall.EIO)
	if err := w.Seal(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Seal: %v, want EIO", err)
	}
	fault.fail(0)
	if _, _, err := w.Append(t.Context(), makeBatch(2, 10, 20)); err != nil {
		t.Fatalf("append after the seal's rename had gone through: %v", err)
	}
	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	checkBatches(t, readAll(t, dir, 1), 10, 2)
}

// A writer that appends nothing more after a failed seal retries the seal on
// its own: the applier gets the entries without waiting for the next append.
func TestWriter_FailedSealRetriedWhenIdle(t *testing.T) {
	dir := t.TempDir()
	fault := faultRenames(t)
	sealed := make(chan struct{}, 10)
	w := openTestWriter(t, dir, func(o *Options) {
		o.SealInterval = 10 * time.Millisecond
		o.OnSeal = func() { sealed <- struct{}{} }
	})
	defer w.Close()
	fault.fail(syscall.ENOSPC)
	if _, _, err := w.Append(t.Context(), makeBatch(1, 10, 20)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "the timer's seal to fail twice", func() bool { return fault.calls.Load() >= 2 })
	fault.fail(0)
	select {
	case <-sealed:
	case <-time.After(time.Minute):
		t.Fatalf("the segment was never sealed; open segments: %v", openFiles(t, dir))
	}
	checkBatches(t, readAll(t, dir, 1), 10, 1)
}

// The writer stopped while the seal still fails: the next start seals the
// one open segment it left and numbering goes on.
func TestWriter_FailedSealThenCloseRecoveredAtStart(t *testing.T) {
	dir := t.TempDir()
	fault := faultRenames(t)
	w := openTestWriter(t, dir, nil)
	if _, _, err := w.Append(t.Context(), makeBatch(1, 10, 20)); err != nil {
		t.Fatal(err)
	}
	fault.fail(syscall.ENOSPC)
	if err := w.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close with the rename failing: %v, want ENOSPC", err)
	}
	if got := openFiles(t, dir); len(got) != 1 {
		t.Fatalf("open segments after the close: %v, want one", got)
	}
	fault.fail(0)
	w = openTestWriter(t, dir, nil)
	if _, _, err := w.Append(t.Context(), makeBatch(2, 10, 20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkBatches(t, readAll(t, dir, 1), 10, 2)
}

// A segment full enough to be sealed by the append that filled it, and a
// rename refused for want of space: the append committed, so it succeeds
// (the reader goes on), and the next append seals the segment first.
func TestWriter_SealAfterAppendFailsForSpace(t *testing.T) {
	dir := t.TempDir()
	fault := faultRenames(t)
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{SegmentMaxBytes: 1, SealInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fault.fail(syscall.ENOSPC)
	if _, last, err := w.Append(t.Context(), makeBatch(1, 10, 20)); err != nil || last != 10 {
		t.Fatalf("append whose seal failed for want of space: last seq %d, %v; want 10 and no error", last, err)
	}
	if _, ok := logs.find("the segment stays open until it can be sealed"); !ok {
		t.Error("no log line for the seal that failed")
	}
	fault.fail(0)
	if _, _, err := w.Append(t.Context(), makeBatch(2, 10, 20)); err != nil {
		t.Fatal(err)
	}
	if got := openFiles(t, dir); len(got) != 0 {
		t.Fatalf("open segments: %v, want none (both sealed)", got)
	}
	checkBatches(t, readAll(t, dir, 1), 10, 2)
}

// At spool.max_bytes the writer seals the open segment for the applier to
// drain; a seal that fails for want of space is retried while it waits,
// not returned (the reader would stop).
func TestWriter_FailedSealAtMaxBytesWaits(t *testing.T) {
	dir := t.TempDir()
	fault := faultRenames(t)
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{MaxBytes: 16 << 10, SealInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, _, err := w.Append(t.Context(), makeBatch(1, 100, 200)); err != nil { // over the cap
		t.Fatal(err)
	}
	fault.fail(syscall.ENOSPC)
	done := backgroundAppend(t.Context(), w, makeBatch(2, 10, 20))
	waitBlocked(t, done, logs, "spool is full (spool.max_bytes)", "the append to wait at the cap with the seal failing",
		func() bool { return fault.calls.Load() >= 2 })
	fault.fail(0)
	if err := appendResult(t, done, "the append once the seal works"); err != nil {
		t.Fatal(err)
	}
	sealedHolds(t, w, dir, 110)
}
