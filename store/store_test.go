package store

import (
	"errors"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestStore_CheckpointSurvivesReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x", "state.db")
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Checkpoint(); c.Seq != 0 {
		t.Fatalf("fresh checkpoint %v", c)
	}
	want := Checkpoint{Seq: 42, TS: bson.Timestamp{T: 1700000000, I: 9}}
	if err := s.SetCheckpoint(want); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); !errors.Is(err, ErrBusy) {
		t.Fatalf("second open: %v, want ErrBusy", err)
	}
	s.Close()
	s, _ = Open(p)
	defer s.Close()
	if got, _ := s.Checkpoint(); got != want {
		t.Fatalf("after reopen %v, want %v", got, want)
	}
}
