package store

import (
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestStore_ReshardingsKeptAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Resharding([]byte("orig")); err != nil || ok {
		t.Fatalf("fresh state file: Resharding = %v, %v; want false", ok, err)
	}
	if err := s.SetResharding([]byte("orig"), []byte("temp")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, err := s.Resharding([]byte("orig")); err != nil || !ok {
		t.Fatalf("after a reopen: Resharding = %v, %v; want true", ok, err)
	}
	if ok, _ := s.Resharding([]byte("other")); ok {
		t.Fatal("another collection reported as resharded")
	}
	if err := s.EndResharding([]byte("orig")); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Resharding([]byte("orig")); err != nil || ok {
		t.Fatalf("after its end: Resharding = %v, %v; want false", ok, err)
	}
}

func TestStore_DroppedUntilSetAgain(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetCollection([]byte("u1"), "db.c"); err != nil {
		t.Fatal(err)
	}
	if err := s.DropCollection([]byte("u1"), bson.Timestamp{T: 9, I: 2}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Collections()
	d, derr := s.Dropped()
	if err != nil || derr != nil || len(m) != 0 || d["u1"] != (bson.Timestamp{T: 9, I: 2}) {
		t.Fatalf("after DropCollection: catalog %v (%v), dropped %v (%v)", m, err, d, derr)
	}
	if err := s.SetCollection([]byte("u1"), "db.c"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(); len(d) != 0 {
		t.Fatal("a collection set again is still recorded dropped")
	}
}
