package spool

import "go.mongodb.org/mongo-driver/v2/bson"

// keepBatchBytes bounds the batch buffer a Writer keeps between appends: a
// batch of large entries gets a buffer of its own, dropped after it.
const keepBatchBytes = 4 << 20

// batchBuf returns a buffer for the stored keys and values of raws (see
// encodeEntry), reused from append to append: one allocation at most per
// batch instead of two per entry. bbolt keeps references to the keys and
// values it is given until the transaction ends, so the buffer must not be
// touched again before the append's transaction has committed or rolled
// back: call it with w.mu held and releaseBatch after the transaction.
func (w *Writer) batchBuf(raws []bson.Raw) []byte {
	n := 0
	for _, raw := range raws {
		n += entryLen(raw)
	}
	if cap(w.batch) < n {
		w.batch = make([]byte, n)
	}
	return w.batch[:n]
}

// releaseBatch drops a batch buffer too large to keep between appends.
func (w *Writer) releaseBatch() {
	if cap(w.batch) > keepBatchBytes {
		w.batch = nil
	}
}
