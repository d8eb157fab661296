package spool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testlog"
	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A kill -9 leaves the open segment committed and never sealed: ReadStat
// counts its entries and its newest ts, read from the file, as a running
// writer's are from what it publishes (binding's replay window and the
// gate's start rely on it; spool stat prints them).
func TestReadStat_CountsAStoppedWritersOpenSegment(t *testing.T) {
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "live")
	w, err := OpenWriter(live, Options{Logger: testlog.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 1; i <= 3; i++ {
		e, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 100, I: uint32(i)}}, {Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{}}})
		if _, _, err := w.Append(ctx, []bson.Raw{e}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := List(live)
	if err != nil || l.Open == nil {
		t.Fatalf("no open segment: %+v, %v", l, err)
	}
	data, err := os.ReadFile(l.Open.Path)
	if err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(t.TempDir(), "killed")
	if err := os.MkdirAll(killed, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(killed, filepath.Base(l.Open.Path)), data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStat(killed)
	if err != nil {
		t.Fatal(err)
	}
	if st.OpenErr != nil || st.WriterRunning || st.Writer == nil {
		t.Fatalf("stat %+v", st)
	}
	if st.Writer.Entries != 3 || st.Writer.LastSeq != 3 || st.NewestTS != (bson.Timestamp{T: 100, I: 3}) || st.OldestTS != (bson.Timestamp{T: 100, I: 1}) {
		t.Errorf("open segment: %d entries through seq %d, oldest %v, newest %v; want 3 through 3, 100,1 to 100,3",
			st.Writer.Entries, st.Writer.LastSeq, st.OldestTS, st.NewestTS)
	}
	// Damaged: named, not counted, not an error of the whole stat.
	if err := os.WriteFile(filepath.Join(killed, filepath.Base(l.Open.Path)), data[:len(data)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err = ReadStat(killed); err != nil || st.OpenErr == nil || !st.NewestTS.IsZero() {
		t.Errorf("a torn open segment: OpenErr %v, newest %v, err %v; want its error, nothing counted", st.OpenErr, st.NewestTS, err)
	}
}

// An open segment created and never written (a writer stopped before its
// first commit: the writer creates its bbolt file, then appends) holds no
// entry: nothing is counted, and it is no damage.
func TestReadStat_EmptyOpenSegmentOfAStoppedWriter(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, openName(1)), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := ReadStat(dir)
	if err != nil || st.OpenErr != nil || st.Writer == nil || st.Writer.Entries != 0 || !st.NewestTS.IsZero() {
		t.Fatalf("stat %+v, %v: want the open segment named, empty, no error", st, err)
	}
}

// An open segment with no valid bbolt meta page and more than a new
// file's four pages may hold committed entries: a writer refuses to start
// on it (leftover.go), so the stat names it damaged, never empty.
func TestReadStat_UnreadableOpenSegmentThatMayHoldEntries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, openName(1)), make([]byte, 8*os.Getpagesize()), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStat(dir)
	if err != nil || st.OpenErr == nil || !strings.Contains(st.OpenErr.Error(), "may hold committed entries") {
		t.Fatalf("OpenErr %v, err %v: want the segment named as possibly holding entries", st.OpenErr, err)
	}
}
