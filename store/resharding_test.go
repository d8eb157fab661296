package store

import (
	"path/filepath"
	"testing"
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
