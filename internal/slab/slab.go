// Package slab carves many small byte slices out of a few large
// allocations: hot paths that keep thousands of short-lived buffers (spooled
// entries, built update documents) allocate once per slab, not once per
// buffer. A slice handed out keeps its whole slab alive until it is dropped.
package slab

// Slab hands out slices of its current block; Size is the block size.
// The zero value is not usable: set Size.
type Slab struct {
	Size int
	buf  []byte
}

// Alloc returns an empty slice with capacity n. Appending up to n bytes
// stays inside the block; a request over a quarter of Size gets its own
// allocation.
func (s *Slab) Alloc(n int) []byte {
	if n > s.Size/4 {
		return make([]byte, 0, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, s.Size)
	}
	off := len(s.buf)
	s.buf = s.buf[:off+n]
	return s.buf[off : off : off+n]
}

// Copy returns a copy of b carved from the slab.
func (s *Slab) Copy(b []byte) []byte {
	return append(s.Alloc(len(b)), b...)
}
