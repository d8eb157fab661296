package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// threeSegments writes seq 1-100, 101-200, 201-300 as three sealed segments.
func threeSegments(t *testing.T) (string, []Segment) {
	t.Helper()
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	for b := 0; b < 3; b++ {
		if _, _, err := w.Append(context.Background(), makeBatch(b, 100, 200)); err != nil {
			t.Fatal(err)
		}
		w.Seal()
	}
	w.Close()
	return dir, mustList(t, dir).Sealed
}

func readErr(dir string, from uint64) error {
	r, err := OpenReader(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		es, err := r.Read(context.Background(), from, 1000, 1<<20)
		if err != nil || len(es) == 0 {
			return err
		}
		from = es[len(es)-1].Seq + 1
	}
}

func TestCorruption_FlippedByte(t *testing.T) {
	dir, segs := threeSegments(t)
	mid := segs[1]
	data, _ := os.ReadFile(mid.Path)
	at := bytes.Index(data, []byte("MARKER-000001-000042"))
	if at < 0 {
		t.Fatal("marker not found in the segment file")
	}
	data[at+7] ^= 0xff
	os.WriteFile(mid.Path, data, 0o600)

	err := readErr(dir, 1)
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("flipped byte: %v, want CorruptError", err)
	}
	if ce.File != mid.Path || ce.First != 101 || ce.Last != 200 || ce.Seq != 143 {
		t.Fatalf("error names %s seq %d-%d at %d; want %s 101-200 at 143", ce.File, ce.First, ce.Last, ce.Seq, mid.Path)
	}
	if !strings.Contains(err.Error(), mid.Name()) || !strings.Contains(err.Error(), "101-200") {
		t.Fatalf("message does not name the file and range: %v", err)
	}
	// Entries before the damage are still readable.
	r, _ := OpenReader(dir)
	defer r.Close()
	es, err := r.Read(context.Background(), 101, 42, 1<<20)
	if err != nil || len(es) != 42 || es[41].Seq != 142 {
		t.Fatalf("entries before the damage: %d (%v), want seq 101-142", len(es), err)
	}
}

func TestCorruption_TruncatedSegment(t *testing.T) {
	dir, segs := threeSegments(t)
	mid := segs[1]
	fi, _ := os.Stat(mid.Path)
	if err := os.Truncate(mid.Path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	err := readErr(dir, 1)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != mid.Path || ce.First != 101 || ce.Last != 200 {
		t.Fatalf("truncated segment: %v, want CorruptError naming %s seq 101-200", err, mid.Name())
	}
	st, err := ReadStat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Damaged != 1 || st.Entries != 200 || st.Segments[0].Err != nil || st.Segments[1].Err == nil || st.Segments[2].Err != nil {
		t.Fatalf("stat: damaged=%d entries=%d; want the two healthy segments reported", st.Damaged, st.Entries)
	}
}

func TestCorruption_MissingMiddleSegment(t *testing.T) {
	dir, segs := threeSegments(t)
	os.Remove(segs[1].Path)
	err := readErr(dir, 1)
	var ge *GapError
	if !errors.As(err, &ge) || ge.From != 101 || ge.To != 200 {
		t.Fatalf("missing segment: %v, want GapError for seq 101-200", err)
	}
	if !strings.Contains(err.Error(), segs[0].Name()) || !strings.Contains(err.Error(), segs[2].Name()) {
		t.Fatalf("message does not name the neighbours: %v", err)
	}
	st, err := ReadStat(dir)
	if err != nil || len(st.Gaps) != 1 || st.Entries != 200 || st.Damaged != 0 {
		t.Fatalf("stat: %+v %v", st, err)
	}
}

func TestCorruption_GarbageFile(t *testing.T) {
	dir, segs := threeSegments(t)
	os.WriteFile(segs[2].Path, bytes.Repeat([]byte("garbage!"), 4096), 0o600)
	err := readErr(dir, 201)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != segs[2].Path {
		t.Fatalf("garbage segment: %v, want CorruptError naming it", err)
	}
	// A writer refuses to guess its position from a damaged newest segment.
	if _, err := OpenWriter(dir, Options{Logger: quietLogger()}); !errors.As(err, &ce) {
		t.Fatalf("writer on a damaged spool: %v, want CorruptError", err)
	}
}
