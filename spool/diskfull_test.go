package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted at
// cleanup; it skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v): this full-disk test needs root (CAP_SYS_ADMIN)", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount tmpfs %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes a file into dir until the filesystem is full but for leave
// bytes (zero: full) and returns its path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for chunk := 64 << 10; chunk >= 512; chunk /= 2 {
		buf := make([]byte, chunk)
		for {
			free, err := FreeBytes(dir)
			if err != nil {
				t.Fatal(err)
			}
			if free-int64(chunk) < leave {
				break
			}
			if _, err := f.Write(buf); errors.Is(err, syscall.ENOSPC) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	return p
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// backgroundAppend appends batch to w in a goroutine; its result comes on
// the channel returned.
func backgroundAppend(ctx context.Context, w *Writer, batch []bson.Raw) <-chan error {
	done := make(chan error, 1)
	go func() { _, _, err := w.Append(ctx, batch); done <- err }()
	return done
}

// waitBlocked waits until the append behind done waits, as the log line
// want says and ready (when not nil) holds; an append that returns first
// fails t.
func waitBlocked(t *testing.T, done <-chan error, logs *logCapture, want, what string, ready func() bool) {
	t.Helper()
	waitUntil(t, time.Minute, what, func() bool {
		select {
		case err := <-done:
			t.Fatalf("the append returned (%v) before %s", err, what)
		default:
		}
		_, ok := logs.find(want)
		return ok && (ready == nil || ready())
	})
}

// appendResult waits for the append behind done to return and returns its
// error.
func appendResult(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	var err error
	waitUntil(t, time.Minute, what, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	return err
}

// sealedHolds seals w and checks that dir holds n entries, seq 1 to n, in
// order.
func sealedHolds(t *testing.T, w *Writer, dir string, n int) {
	t.Helper()
	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	es := readAll(t, dir, 1)
	checkContiguous(t, es, 1)
	if len(es) != n {
		t.Fatalf("read %d entries, want %d", len(es), n)
	}
}

// drainChecked is an applier's view of the spool: it reads from *next,
// checks that entries come once, in order (seq contiguous; batch numbers
// rising, each batch whole), and returns how many it read.
func drainChecked(t *testing.T, r *Reader, next *uint64, lastBatch *int, size int) int {
	t.Helper()
	n := 0
	for {
		es, err := r.Read(context.Background(), *next, 1000, 4<<20)
		if err != nil {
			t.Fatalf("read at seq %d: %v", *next, err)
		}
		if len(es) == 0 {
			return n
		}
		for _, e := range es {
			if e.Seq != *next {
				t.Fatalf("got seq %d, want %d", e.Seq, *next)
			}
			b, _ := bson.Raw(e.Raw).LookupErr("o", "batch")
			idx, _ := bson.Raw(e.Raw).LookupErr("o", "idx")
			bi, ii := int(b.Int32()), int(idx.Int32())
			if ii != int((e.Seq-1)%uint64(size)) || (ii == 0 && bi <= *lastBatch) || (ii != 0 && bi != *lastBatch) {
				t.Fatalf("seq %d holds batch %d entry %d after batch %d: duplicated, reordered or partial", e.Seq, bi, ii, *lastBatch)
			}
			*lastBatch = bi
			*next++
			n++
		}
	}
}

// The spool on a full filesystem: the writer waits (and says so) instead of
// failing, and once a filler file is removed it appends the same batch and
// goes on; every entry arrives once, in order, with no gap.
func TestWriter_DiskFullWaitsThenAppends(t *testing.T) {
	mnt := mountTmpfs(t, 3<<20)
	dir := filepath.Join(mnt, "spool")
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{SegmentMaxBytes: 256 << 10, SealInterval: 20 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	const batches, size = 400, 50 // ~6.5 MB through a 3 MB filesystem
	ctx, cancel := context.WithCancel(context.Background())
	appended := make(chan int, batches)
	done := make(chan error, 1)
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped; w.Close() }) // before the unmount
	go func() {
		defer close(stopped)
		for b := 1; b <= batches; b++ {
			if _, _, err := w.Append(ctx, makeBatch(b, size, 200)); err != nil {
				done <- fmt.Errorf("append batch %d: %w", b, err)
				return
			}
			appended <- b
		}
		done <- w.Close()
	}()

	// The applier: read, check, remove what it read.
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	next, lastBatch, read := uint64(1), 0, 0
	apply := func() {
		read += drainChecked(t, r, &next, &lastBatch, size)
		if _, err := Remove(dir, next, 0); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, time.Minute, "20 batches appended", func() bool { apply(); return len(appended) >= 20 })
	filler := fill(t, mnt, 0)
	waitUntil(t, time.Minute, "the writer to report the full disk", func() bool {
		apply()
		select {
		case err := <-done:
			t.Fatalf("the writer stopped at the full disk: %v", err)
		default:
		}
		_, ok := logs.find("spool disk is full: waiting for space")
		return ok
	})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var werr error
	waitUntil(t, 2*time.Minute, "every batch appended", func() bool {
		apply()
		select {
		case werr = <-done:
			return true
		default:
			return false
		}
	})
	if werr != nil {
		t.Fatal(werr)
	}
	apply()
	if read != batches*size || lastBatch != batches {
		t.Fatalf("read %d entries up to batch %d, want %d up to %d", read, lastBatch, batches*size, batches)
	}
	if _, ok := logs.find("spool disk has room again"); !ok {
		t.Error("no log line when the disk had room again")
	}
	if e, ok := logs.find("spool disk is full: waiting for space"); !ok || e.Data["need_bytes"] == nil || e.Data["first_seq"] == nil {
		t.Errorf("the full-disk line names neither the seqs nor the space needed: %+v", e)
	}
}

// At a full disk, applied segments kept for retention are removed, oldest
// first, before the writer waits; unapplied ones never are.
func TestWriter_DiskFullRemovesRetainedApplied(t *testing.T) {
	mnt := mountTmpfs(t, 3<<20)
	dir := filepath.Join(mnt, "spool")
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{SegmentMaxBytes: 128 << 10, SealInterval: 20 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	const batches, size = 300, 50
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped; w.Close() }) // before the unmount
	go func() {
		defer close(stopped)
		for b := 1; b <= batches; b++ {
			if _, _, err := w.Append(ctx, makeBatch(b, size, 200)); err != nil {
				done <- fmt.Errorf("append batch %d: %w", b, err)
				return
			}
		}
		done <- w.Close()
	}()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	next, lastBatch, read := uint64(1), 0, 0
	var werr error
	waitUntil(t, 2*time.Minute, "every batch appended", func() bool {
		read += drainChecked(t, r, &next, &lastBatch, size)
		if _, err := Remove(dir, next, time.Hour); err != nil { // applied, kept for an hour
			t.Fatal(err)
		}
		select {
		case werr = <-done:
			return true
		default:
			return false
		}
	})
	if werr != nil {
		t.Fatal(werr)
	}
	read += drainChecked(t, r, &next, &lastBatch, size)
	if read != batches*size {
		t.Fatalf("read %d entries, want %d", read, batches*size)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	removed, prev := 0, uint64(0)
	for _, e := range logs.entries {
		if !strings.Contains(e.Message, "removed an applied segment") {
			continue
		}
		first, last, before := e.Data["first_seq"].(uint64), e.Data["last_seq"].(uint64), e.Data["applied_before"].(uint64)
		if first <= prev || last >= before {
			t.Fatalf("removed seq %d-%d (applied before %d) after seq ..%d: not oldest first, or not applied", first, last, before, prev)
		}
		prev = last
		removed++
	}
	if removed == 0 {
		t.Fatal("the disk filled up but no retained applied segment was removed")
	}
}

// kill -9 of a writer waiting at a full disk, space freed, a new writer:
// every acknowledged batch is there, once, in order, and the new writer
// continues the numbering.
func TestWriter_DiskFullRestart(t *testing.T) {
	mnt := mountTmpfs(t, 3<<20)
	dir := filepath.Join(mnt, "spool")
	const size = 50
	filler := fill(t, mnt, 1<<20)
	cmd := writerCmd(t, dir, 0, size, 128<<10)
	cmd.Env = append(cmd.Env, "SPOOL_TEST_LOG=1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := uint64(0)
	full := false
	for !full && sc.Scan() {
		var b int
		var last uint64
		if _, err := fmt.Sscanf(sc.Text(), "ok %d %d", &b, &last); err == nil {
			acked = last
		}
		full = strings.Contains(sc.Text(), "spool disk is full")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if !full {
		t.Fatal("the writer process ended without reporting the full disk")
	}
	if acked == 0 {
		t.Fatal("the writer process acknowledged nothing before the disk filled")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	cmd = writerCmd(t, dir, 20, size, 128<<10)
	if b, err := cmd.Output(); err != nil {
		t.Fatalf("writer after the restart: %v\n%s", err, b)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next, lastBatch := uint64(1), 0
	n := drainChecked(t, r, &next, &lastBatch, size)
	if uint64(n) < acked+20*size || n%size != 0 {
		t.Fatalf("read %d entries; %d were acknowledged before the kill, and 20 batches of %d after", n, acked, size)
	}
	if l := mustList(t, dir); l.Open != nil || len(l.Gaps) != 0 {
		t.Fatalf("after the restart: open %v, gaps %v", l.Open, l.Gaps)
	}
}

// Remove records the applied segments it keeps for retention; a rewind
// lowers the record (SetApplied), and a writer at a full disk removes only
// what the record puts before the replay.
func TestRemove_RecordsRetainedAppliedForAFullDisk(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, func(o *Options) { o.SegmentMaxBytes = 16 << 10 })
	defer w.Close()
	for b := 0; b < 8; b++ {
		if _, _, err := w.Append(t.Context(), makeBatch(b, 20, 1000)); err != nil {
			t.Fatal(err)
		}
		if err := w.Seal(); err != nil {
			t.Fatal(err)
		}
	}
	// Applied through seq 120 (six segments), all kept for an hour.
	if removed, err := Remove(dir, 121, time.Hour); err != nil || len(removed) != 0 {
		t.Fatalf("Remove: %v, %d removed; want none (retention)", err, len(removed))
	}
	if from, ok := appliedFrom(dir); !ok || from != 121 {
		t.Fatalf("recorded applied before %d (%v), want 121", from, ok)
	}
	// A rewind to seq 41 before the writer runs short of space.
	if err := SetApplied(dir, 41); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	n, err := w.removeApplied()
	w.mu.Unlock()
	if err != nil || n != 2 {
		t.Fatalf("removeApplied: %d removed, %v; want the 2 segments before seq 41", n, err)
	}
	if l := mustList(t, dir); len(l.Sealed) != 6 || l.Sealed[0].First != 41 {
		t.Fatalf("after removal: %+v", l.Sealed)
	}
}

// A full disk while a new segment is created (bbolt's first write of four
// pages cut short): the writer leaves no partial file behind, waits, and
// creates it again once there is room.
func TestWriter_DiskFullWhileCreatingSegment(t *testing.T) {
	mnt := mountTmpfs(t, 1<<20)
	dir := filepath.Join(mnt, "spool")
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); w.Close() }) // before the unmount
	if _, _, err := w.Append(ctx, makeBatch(1, 10, 10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, mnt, int64(os.Getpagesize())) // room for one of the four pages
	done := backgroundAppend(ctx, w, makeBatch(2, 10, 10))
	waitBlocked(t, done, logs, "spool disk is full: waiting for space", "the writer to report the full disk", nil)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("append after space was freed: %v", err)
	}
	sealedHolds(t, w, dir, 20)
}
