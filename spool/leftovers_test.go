package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sealedSpool writes batches 1..n of size entries, each sealed in a segment
// of its own, and returns the segment paths.
func sealedSpool(t *testing.T, dir string, n, size int) []string {
	t.Helper()
	w := openTestWriter(t, dir, nil)
	for b := 1; b <= n; b++ {
		if _, _, err := w.Append(t.Context(), makeBatch(b, size, 20)); err != nil {
			t.Fatal(err)
		}
		if err := w.Seal(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range mustList(t, dir).Sealed {
		paths = append(paths, s.Path)
	}
	if len(paths) != n {
		t.Fatalf("setup: %d segments, want %d", len(paths), n)
	}
	return paths
}

// reopen renames a sealed segment back to its open name, as a writer that
// failed to seal it (or crashed) leaves it, and returns the new path.
func reopen(t *testing.T, path string) string {
	t.Helper()
	s, ok := parseName(filepath.Base(path))
	if !ok {
		t.Fatalf("not a segment: %s", path)
	}
	open := filepath.Join(filepath.Dir(path), openName(s.First))
	if err := os.Rename(path, open); err != nil {
		t.Fatal(err)
	}
	return open
}

// Two open segments as an older writer left them: the seal of the first
// failed after its file was closed (a full disk refused the rename), the
// writer opened the next one and then crashed. Readers refuse the listing;
// a new writer seals both, oldest first, logged, and every entry is read
// once, in order.
func TestWriter_TwoOpenSegmentsSealedInOrder(t *testing.T) {
	const size = 10
	dir := t.TempDir()
	segs := sealedSpool(t, dir, 3, size)
	a, b := reopen(t, segs[1]), reopen(t, segs[2])

	if _, err := List(dir); err == nil || !strings.Contains(err.Error(), filepath.Base(a)) || !strings.Contains(err.Error(), filepath.Base(b)) {
		t.Fatalf("List with two open segments: %v; want an error naming both", err)
	}
	logs, log := newLogCapture()
	w, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatalf("OpenWriter with two open segments whose entries follow each other: %v", err)
	}
	if _, ok := logs.find("found more than one open segment"); !ok {
		t.Error("no log line for the open segments sealed")
	}
	if w.NextSeq() != 3*size+1 {
		t.Fatalf("next seq %d, want %d", w.NextSeq(), 3*size+1)
	}
	if _, _, err := w.Append(t.Context(), makeBatch(4, size, 20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if l := mustList(t, dir); l.Open != nil || len(l.Sealed) != 4 || len(l.Gaps) != 0 {
		t.Fatalf("after the restart: open %v, %d sealed, gaps %v", l.Open, len(l.Sealed), l.Gaps)
	}
	checkBatches(t, readAll(t, dir, 1), size, 4)
}

// An older writer's other layout: the seal of segment 2 failed, segment 3
// was sealed after it, and a crash left segment 4 open. Segment 2 fills the
// gap between sealed 1 and 3: a new writer seals both open ones, and every
// entry is read once, in order. Before, each open segment was compared with
// the newest sealed one only, and this start was refused as "the same seqs
// in two files" (found by a review).
func TestWriter_OpenSegmentBelowASealedOneSealed(t *testing.T) {
	const size = 10
	dir := t.TempDir()
	segs := sealedSpool(t, dir, 4, size)
	reopen(t, segs[1])
	reopen(t, segs[3])
	w, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("OpenWriter with an open segment between two sealed ones: %v", err)
	}
	if w.NextSeq() != 4*size+1 {
		t.Fatalf("next seq %d, want %d", w.NextSeq(), 4*size+1)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if l := mustList(t, dir); l.Open != nil || len(l.Sealed) != 4 || len(l.Gaps) != 0 {
		t.Fatalf("after the restart: open %v, %d sealed, gaps %v", l.Open, len(l.Sealed), l.Gaps)
	}
	checkBatches(t, readAll(t, dir, 1), size, 4)
}

// Open segments that cannot be sealed without losing or misordering
// committed entries: the start is refused, naming the files and what they
// hold, and nothing is changed.
func TestWriter_TwoOpenSegmentsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup leaves open segments in dir and returns them
		setup func(t *testing.T, dir string) []string
		want  string
	}{
		{"seqs missing between them", func(t *testing.T, dir string) []string {
			segs := sealedSpool(t, dir, 4, 10)
			if err := os.Remove(segs[2]); err != nil {
				t.Fatal(err)
			}
			return []string{reopen(t, segs[1]), reopen(t, segs[3])}
		}, "seq 21-30 are in neither"},
		{"the same seqs in both", func(t *testing.T, dir string) []string {
			// 1-20 from one spool, 11-30 from another.
			other := t.TempDir()
			w := openTestWriter(t, other, nil)
			for _, n := range []int{10, 20} {
				if _, _, err := w.Append(t.Context(), makeBatch(n, n, 20)); err != nil {
					t.Fatal(err)
				}
				if err := w.Seal(); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			w = openTestWriter(t, dir, nil)
			if _, _, err := w.Append(t.Context(), makeBatch(1, 20, 20)); err != nil {
				t.Fatal(err)
			}
			w.Close()
			a := reopen(t, mustList(t, dir).Sealed[0].Path)
			b := filepath.Join(dir, openName(11))
			if err := os.Rename(mustList(t, other).Sealed[1].Path, b); err != nil {
				t.Fatal(err)
			}
			return []string{a, b}
		}, "the same seqs in two files"},
		{"the older one damaged", func(t *testing.T, dir string) []string {
			segs := sealedSpool(t, dir, 3, 50)
			a, b := reopen(t, segs[1]), reopen(t, segs[2])
			truncateTo(t, a, 4096)
			return []string{a, b}
		}, "holds committed entries"},
		{"the newer one damaged", func(t *testing.T, dir string) []string {
			segs := sealedSpool(t, dir, 3, 50)
			a, b := reopen(t, segs[1]), reopen(t, segs[2])
			truncateTo(t, b, 4096)
			return []string{a, b}
		}, "holds committed entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opens := tc.setup(t, dir)
			before := map[string]string{}
			for _, p := range opens {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				before[p] = string(b)
			}
			_, err := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenWriter: %v; want a refusal saying %q", err, tc.want)
			}
			for _, p := range opens {
				if !strings.Contains(err.Error(), filepath.Base(p)) {
					t.Errorf("the refusal does not name %s: %v", filepath.Base(p), err)
				}
				if b, rerr := os.ReadFile(p); rerr != nil || string(b) != before[p] {
					t.Errorf("%s was changed or moved by the refused start: %v", p, rerr)
				}
			}
			var ce *CorruptError
			if damaged := map[string]string{"the older one damaged": opens[0], "the newer one damaged": opens[1]}[tc.name]; damaged != "" && (!errors.As(err, &ce) || ce.File != damaged) {
				t.Errorf("want a CorruptError naming %s: %v", damaged, err)
			}
		})
	}
}
