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

func TestSlab_RewindHandsTheSameBlocksOutAgain(t *testing.T) {
	never := Slab{Size: 64}
	for i := 0; i < 40; i++ {
		never.Copy(make([]byte, 8))
	}
	if len(never.blocks) != 0 {
		t.Fatalf("a slab never rewound keeps %d blocks", len(never.blocks))
	}
	s := Slab{Size: 64}
	s.Rewind() // from here on, the slab keeps its blocks
	var first [][]byte
	for i := 0; i < 40; i++ { // 40 × 8 bytes: five blocks
		first = append(first, s.Copy(bytes.Repeat([]byte{byte(i)}, 8)))
	}
	for i, b := range first {
		if b[0] != byte(i) || b[7] != byte(i) {
			t.Fatalf("copy %d holds %v before any rewind", i, b)
		}
	}
	s.Rewind()
	for i := 0; i < 40; i++ {
		b := s.Copy(bytes.Repeat([]byte{byte(100 + i)}, 8))
		if &b[0] != &first[i][0] {
			t.Fatalf("copy %d after the rewind is not in the memory of copy %d before it", i, i)
		}
	}
	if len(s.blocks) != 5 {
		t.Fatalf("%d blocks kept, want the 5 in use at once", len(s.blocks))
	}
	// Past what was in use before: a new block, the old ones untouched.
	extra := s.Copy([]byte("new"))
	for _, b := range first {
		if &extra[0] == &b[0] {
			t.Fatal("a copy past the rewound blocks reused one of them")
		}
	}
}
