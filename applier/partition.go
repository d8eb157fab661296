package applier

import (
	"hash"

	"github.com/spaolacci/murmur3"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// partitioner hashes documents to workers with one reused hasher.
type partitioner struct {
	h   hash.Hash32
	buf []byte
}

// of is the worker of a document: murmur3 over the namespace and the raw
// BSON of its _id (type byte + value bytes), never a Go type.
func (p *partitioner) of(ns string, id bson.RawValue, workers int) int {
	// The streaming hasher on a heap buffer: murmur3.Sum32's pointer
	// arithmetic tripped the race detector's checkptr on a stack buffer.
	if p.h == nil {
		p.h = murmur3.New32()
	}
	p.buf = append(append(p.buf[:0], ns...), 0, byte(id.Type))
	p.buf = append(p.buf, id.Value...)
	p.h.Reset()
	p.h.Write(p.buf)
	return int(p.h.Sum32() % uint32(workers))
}

// Partition is the worker of a document (see partitioner.of).
func Partition(ns string, id bson.RawValue, workers int) int {
	var p partitioner
	return p.of(ns, id, workers)
}
