package spool

// Follow makes r read the open segment of w, the Writer of the same spool in
// this process, as soon as each append commits, instead of waiting for the
// segment to be sealed. Sealed segments are still read from their files.
// Call it before the first Read. Only the writer's own process can follow:
// bbolt locks the open file against every other process.
//
// The open segment is read through the writer's own bbolt handle: bbolt
// serves read transactions next to the writer's update, and it fsyncs each
// commit before Append returns, so every entry a follower sees is durable
// (a checkpoint past it survives a crash, the entry is in the spool).
func (r *Reader) Follow(w *Writer) { r.w = w }

// readOpen reads from the open segment when it holds from. ok is false when
// from is not in the open segment (it is in a sealed one, or there is no open
// segment, or it is being sealed): then the caller reads the sealed files. A
// seal that happens between two calls is safe: the seal waits for a read in
// progress, then takes the handle away, and the entries are then in the
// sealed file (the writer calls OnSeal once it is renamed).
func (w *Writer) readOpen(from uint64, max, maxBytes int, mem *batchMem) (es []Entry, ok bool, err error) {
	w.omu.RLock()
	defer w.omu.RUnlock()
	if w.odb == nil || from < w.oseg.First {
		return nil, false, nil
	}
	// Every seq from oseg.First to committed is in odb: the next segment is
	// opened only after this one is handed back, which waits for the lock.
	last := w.committed.Load()
	if from > last {
		return nil, true, nil
	}
	seg := w.oseg
	seg.Last = last
	es, err = readEntries(w.odb, seg, from, last, max, maxBytes, mem)
	return es, true, err
}

// Following reports whether r follows a Writer's open segment.
func (r *Reader) Following() bool { return r.w != nil }
