package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestWriter_AppendAndReadBack(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	var want []bson.Raw
	for b := 0; b < 5; b++ {
		batch := makeBatch(b, 100, 50)
		first, last, err := w.Append(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if first != uint64(b*100+1) || last != uint64(b*100+100) {
			t.Fatalf("batch %d got seq %d-%d", b, first, last)
		}
		want = append(want, batch...)
	}
	if got := readAll(t, dir, 1); len(got) != 0 {
		t.Fatalf("read %d entries from an open segment; only sealed ones are readable", len(got))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dir, 1)
	if len(got) != len(want) {
		t.Fatalf("read %d entries, want %d", len(got), len(want))
	}
	checkContiguous(t, got, 1)
	for i := range got {
		if !bytes.Equal(got[i].Raw, want[i]) {
			t.Fatalf("entry %d differs after round trip", i)
		}
		if ts, _ := entryTS(want[i]); got[i].TS != ts {
			t.Fatalf("entry %d ts %v, want %v", i, got[i].TS, ts)
		}
	}
	// Reading from the middle starts exactly there.
	mid := readAll(t, dir, 250)
	if len(mid) != 251 || mid[0].Seq != 250 {
		t.Fatalf("read from 250: %d entries starting at %d", len(mid), mid[0].Seq)
	}
}

func TestWriter_Permissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	w := openTestWriter(t, dir, nil)
	if _, _, err := w.Append(context.Background(), makeBatch(0, 3, 10)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("spool directory mode %o, want 700", m)
	}
	for _, f := range segmentFiles(t, dir) {
		if m := fileMode(t, f); m != 0o600 {
			t.Errorf("segment %s mode %o, want 600", f, m)
		}
	}
}

func TestWriter_SealOnSize(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, func(o *Options) { o.SegmentMaxBytes = 256 << 10 })
	for b := 0; b < 20; b++ {
		if _, _, err := w.Append(context.Background(), makeBatch(b, 100, 300)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	l := mustList(t, dir)
	if len(l.Sealed) < 3 {
		t.Fatalf("%d segments after 800 KB at 256 KB per segment", len(l.Sealed))
	}
	if len(l.Gaps) != 0 || l.Open != nil {
		t.Fatalf("gaps %v open %v", l.Gaps, l.Open)
	}
	checkContiguous(t, readAll(t, dir, 1), 1)
}

func TestWriter_SealOnInterval(t *testing.T) {
	dir := t.TempDir()
	sealed := make(chan struct{}, 10)
	w := openTestWriter(t, dir, func(o *Options) {
		o.SealInterval = 50 * time.Millisecond
		o.OnSeal = func() { sealed <- struct{}{} }
	})
	defer w.Close()
	if _, _, err := w.Append(context.Background(), makeBatch(0, 10, 10)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sealed:
	case <-time.After(10 * time.Second):
		t.Fatal("open segment not sealed after its interval")
	}
	if got := readAll(t, dir, 1); len(got) != 10 {
		t.Fatalf("read %d entries after the interval seal, want 10", len(got))
	}
}

func TestWriter_ResumesPosition(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	w.Append(context.Background(), makeBatch(0, 10, 10))
	w.Close()
	w = openTestWriter(t, dir, nil)
	last, ok := w.Last()
	if !ok || last.Seq != 10 || last.TS != (bson.Timestamp{T: 1_700_000_000, I: 10}) {
		t.Fatalf("Last after reopen = %+v %v", last, ok)
	}
	if first, _, _ := w.Append(context.Background(), makeBatch(1, 10, 10)); first != 11 {
		t.Fatalf("appended at %d after reopen, want 11", first)
	}
	w.Close()
	checkContiguous(t, readAll(t, dir, 1), 1)
}

func TestWriter_OneWriterPerSpool(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	defer w.Close()
	_, err := OpenWriter(dir, Options{Logger: quietLogger()})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("second writer: %v, want ErrBusy", err)
	}
	if !WriterRunning(dir) {
		t.Fatal("WriterRunning is false while a writer holds the spool")
	}
}

func TestWriter_RejectsBadEntries(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	noTS, _ := bson.Marshal(bson.D{{Key: "op", Value: "i"}})
	batch := append(makeBatch(0, 3, 10), noTS)
	if _, _, err := w.Append(context.Background(), batch); err == nil {
		t.Fatal("entry without ts accepted")
	}
	if _, _, err := w.Append(context.Background(), []bson.Raw{bson.Raw{1, 2, 3}}); err == nil {
		t.Fatal("non-BSON entry accepted")
	}
	// The driver's Validate panics on this length; Append must refuse it.
	bin, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "b", Value: bson.Binary{Data: []byte("abcd")}}})
	binary.LittleEndian.PutUint32(bin[4+(1+3+8)+(1+2):], 0x7FFFFFFF)
	if _, _, err := w.Append(context.Background(), []bson.Raw{bin}); err == nil || !strings.Contains(err.Error(), "not valid BSON") {
		t.Fatalf("binary of length 2^31-1: %v, want a not-valid-BSON error", err)
	}
	huge, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "o", Value: strings.Repeat("x", 17<<20)}})
	if _, _, err := w.Append(context.Background(), []bson.Raw{huge}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("17 MB entry: %v, want a size-limit error", err)
	}
	w.Close()
	if got := readAll(t, dir, 1); len(got) != 0 {
		t.Fatalf("a rejected batch left %d entries", len(got))
	}
}

func TestWriter_RefusesOtherSource(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, func(o *Options) { o.Source = "rs0" })
	w.Append(context.Background(), makeBatch(0, 3, 10))
	w.Close()
	_, err := OpenWriter(dir, Options{Source: "rs1", Logger: quietLogger()})
	var se *SourceError
	if !errors.As(err, &se) {
		t.Fatalf("writer for another source: %v, want SourceError", err)
	}
}

func TestWriter_MarkEnded(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	w.Append(context.Background(), makeBatch(0, 7, 10))
	if err := w.MarkEnded(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	last, ended, err := Ended(dir)
	if err != nil || !ended || last != 7 {
		t.Fatalf("Ended = %d %v %v", last, ended, err)
	}
}

func TestWriter_MaxBytesBlocksUntilRemoved(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, func(o *Options) {
		o.SegmentMaxBytes = 128 << 10
		o.MaxBytes = 512 << 10
	})
	defer w.Close()
	ctx := context.Background()
	b := 0
	// Fill the spool to its cap, as the writer counts it.
	for ; ; b++ {
		if n, _ := w.diskBytes(); n >= w.opts.MaxBytes {
			break
		}
		if _, _, err := w.Append(ctx, makeBatch(b, 100, 300)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := w.Append(ctx, makeBatch(b, 100, 300))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("append into a full spool returned (%v) instead of waiting", err)
	case <-time.After(300 * time.Millisecond):
	}
	// The applier consumes everything: space is freed, the append goes on.
	l := mustList(t, dir)
	if _, err := Remove(dir, l.Sealed[len(l.Sealed)-1].Last+1, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("append still blocked after segments were removed")
	}
}

func TestRemove_KeepsUnappliedRetainedAndNewest(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	for b := 0; b < 4; b++ {
		w.Append(context.Background(), makeBatch(b, 10, 10))
		w.Seal()
	}
	w.Close()
	// Segments: 1-10, 11-20, 21-30, 31-40.
	if rm, _ := Remove(dir, 25, time.Hour); len(rm) != 0 {
		t.Fatalf("removed %d segments inside their retention", len(rm))
	}
	rm, err := Remove(dir, 25, 0)
	if err != nil || len(rm) != 2 {
		t.Fatalf("removed %d (%v), want the 2 segments below seq 25", len(rm), err)
	}
	rm, _ = Remove(dir, 1000, 0)
	if len(rm) != 1 || len(mustList(t, dir).Sealed) != 1 {
		t.Fatalf("the newest segment must stay: removed %d", len(rm))
	}
	r, _ := OpenReader(dir)
	defer r.Close()
	if _, err := r.Read(context.Background(), 5, 10, 1<<20); !errors.Is(err, ErrGone) {
		t.Fatalf("reading removed seq: %v, want ErrGone", err)
	}
	// The writer still resumes after everything was consumed.
	w = openTestWriter(t, dir, nil)
	defer w.Close()
	if w.NextSeq() != 41 {
		t.Fatalf("next seq %d after removal, want 41", w.NextSeq())
	}
}

func TestWriter_EmptyLeftoverRemoved(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, openName(1)), nil, 0o600)
	w := openTestWriter(t, dir, nil)
	defer w.Close()
	if l := mustList(t, dir); l.Open != nil || len(l.Sealed) != 0 {
		t.Fatalf("empty leftover not removed: %+v", l)
	}
}

// TestWriter_MaxBytesNewestSegmentDoesNotCount: Remove always keeps the newest
// sealed segment, so it must not count against the cap, or one segment as
// large as the cap would block the writer forever.
func TestWriter_MaxBytesNewestSegmentDoesNotCount(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, func(o *Options) {
		o.SegmentMaxBytes = 64 << 10
		o.MaxBytes = 128 << 10
	})
	defer w.Close()
	ctx := context.Background()
	if _, _, err := w.Append(ctx, makeBatch(0, 1000, 300)); err != nil { // one ~400 KB segment
		t.Fatal(err)
	}
	if l := mustList(t, dir); len(l.Sealed) != 1 || l.Sealed[0].Size < 128<<10 {
		t.Fatalf("setup: want one sealed segment over the cap, got %+v", l.Sealed)
	}
	done := make(chan error, 1)
	go func() { _, _, err := w.Append(ctx, makeBatch(1, 10, 10)); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("append blocked behind the newest sealed segment, which Remove never deletes")
	}
}
