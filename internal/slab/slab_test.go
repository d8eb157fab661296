package slab

import (
	"bytes"
	"testing"
)

func TestSlab_CopiesDoNotOverlap(t *testing.T) {
	s := Slab{Size: 64}
	a := s.Copy([]byte("abcd"))
	b := s.Copy([]byte("efgh"))
	a = append(a, 'X') // past a's capacity: must not write into b
	if string(b) != "efgh" || string(a) != "abcdX" {
		t.Fatalf("a %q b %q", a, b)
	}
	big := s.Copy(bytes.Repeat([]byte("z"), 40)) // over a quarter: its own allocation
	if len(big) != 40 || cap(big) != 40 {
		t.Fatalf("big: len %d cap %d", len(big), cap(big))
	}
	for i := 0; i < 100; i++ { // many blocks
		if c := s.Copy([]byte{byte(i)}); c[0] != byte(i) {
			t.Fatal("copy lost its byte")
		}
	}
	if string(b) != "efgh" {
		t.Fatal("a later block overwrote an earlier copy")
	}
}
