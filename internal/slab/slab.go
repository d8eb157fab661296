// Package slab carves many small byte slices out of a few large
// allocations: hot paths that keep thousands of short-lived buffers (spooled
// entries read back, built update documents) allocate once per block, not
// once per buffer. A slice
// handed out keeps its whole block alive until it is dropped; after Rewind,
// the blocks are handed out again.
package slab

// Slab hands out slices of its current block; Size is the block size.
// The zero value is not usable: set Size.
type Slab struct {
	Size int
	buf  []byte
	// Once Rewind was called: the blocks handed out since the last Rewind,
	// in order, and the index of the current one (buf) among them. A slab
	// never rewound keeps no block but its current one.
	rewound bool
	blocks  [][]byte
	cur     int
}

// Alloc returns an empty slice with capacity n. Appending up to n bytes
// stays inside the block; a request over a quarter of Size gets its own
// allocation.
func (s *Slab) Alloc(n int) []byte {
	if n > s.Size/4 {
		return make([]byte, 0, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.nextBlock()
	}
	off := len(s.buf)
	s.buf = s.buf[:off+n]
	return s.buf[off : off : off+n]
}

func (s *Slab) nextBlock() {
	if !s.rewound {
		s.buf = make([]byte, 0, s.Size)
		return
	}
	if s.buf != nil {
		s.cur++
	}
	if s.cur == len(s.blocks) {
		s.blocks = append(s.blocks, make([]byte, 0, s.Size))
	}
	s.buf = s.blocks[s.cur][:0]
}

// Copy returns a copy of b carved from the slab.
func (s *Slab) Copy(b []byte) []byte {
	return append(s.Alloc(len(b)), b...)
}

// Rewind hands the blocks out again from the first: every slice carved
// before it must be dropped by its holders, for the next ones overwrite
// it. The slab keeps as many blocks as were in use at once.
func (s *Slab) Rewind() {
	s.buf, s.cur, s.rewound = nil, 0, true
}
