package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestStore_OpenReadOnly: a missing state file is "not started" and is not
// created; an existing one is read without being changed; one that another
// opener holds read-write is ErrBusy after the timeout, not a hang.
func TestStore_OpenReadOnly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x", "state.db")
	if _, err := OpenReadOnly(p); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("missing file: %v, want ErrNotStarted", err)
	}
	if _, err := os.Stat(filepath.Dir(p)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only open created %s (%v)", filepath.Dir(p), err)
	}
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Checkpoint{Seq: 7, TS: bson.Timestamp{T: 1700000000, I: 3}}
	if err := s.SetCheckpoint(want); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := OpenReadOnly(p); !errors.Is(err, ErrBusy) || time.Since(start) > 10*time.Second {
		t.Fatalf("held read-write elsewhere: %v after %s, want ErrBusy after the timeout", err, time.Since(start))
	}
	s.Close()
	before, _ := os.Stat(p)
	time.Sleep(20 * time.Millisecond)
	r, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Checkpoint(); err != nil || got != want || r.Stage() != StageNone {
		t.Fatalf("read-only: checkpoint %v (%v), stage %q", got, err, r.Stage())
	}
	r.Close()
	after, _ := os.Stat(p)
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Fatalf("a read-only open changed the file: %v %d -> %v %d", before.ModTime(), before.Size(), after.ModTime(), after.Size())
	}
}
