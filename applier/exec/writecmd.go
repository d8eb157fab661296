package exec

import (
	"encoding/binary"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The write commands are built as raw BSON (internal/wirecmd), statement by
// statement, straight from the oplog entries' bytes, in one reused buffer
// per worker.

// statementLen is an upper bound of op's statement size.
func statementLen(op *Op) int {
	return len(op.Doc) + len(op.ID.Value) + 64
}

// class is the write command an op goes in.
type class uint8

const (
	classInsert class = iota + 1 // unordered insert; duplicates replaced after
	classUpdate                  // ordered update (replace or modify, upsert)
	classDelete                  // ordered delete
)

func classOf(k Kind) class {
	switch k {
	case KindInsert:
		return classInsert
	case KindDelete:
		return classDelete
	}
	return classUpdate
}

// runLen is how many ops from the start of ops go in one command: the same
// namespace and class, at most bulk statements and wirecmd.MaxStatementBytes bytes.
// An op that fetches the current document goes alone.
func runLen(ops []Op, bulk int) int {
	first := &ops[0]
	if first.Fetch != nil {
		return 1
	}
	c, size := classOf(first.Kind), statementLen(first)
	n := 1
	for n < len(ops) && n < bulk {
		op := &ops[n]
		if op.Fetch != nil || op.NS != first.NS || classOf(op.Kind) != c {
			break
		}
		if size += statementLen(op); size > wirecmd.MaxStatementBytes {
			break
		}
		n++
	}
	return n
}

// build makes the command for a run of ops (see runLen) whose documents are
// already resolved: docs[i] replaces ops[i].Doc when docs is not nil.
func build(b *wirecmd.Builder, coll string, ops []Op, docs []bson.Raw, wc []byte) bson.Raw {
	doc := func(i int) bson.Raw {
		if docs != nil {
			return docs[i]
		}
		return ops[i].Doc
	}
	switch classOf(ops[0].Kind) {
	case classInsert:
		b.Begin("insert", coll, "documents", false)
		for i := range ops {
			b.Insert(doc(i))
		}
	case classDelete:
		b.Begin("delete", coll, "deletes", true)
		for i := range ops {
			b.Delete(ops[i].ID)
		}
	default:
		b.Begin("update", coll, "updates", true)
		var stmt [256]byte // on the stack: a statement is copied into b
		for i := range ops {
			d := doc(i)
			switch {
			case ops[i].Kind == KindReplace && oplog.HasDollarKey(d):
				b.ReplaceLiteral(ops[i].ID, d)
			case updateLen(ops[i].ID, d) <= len(stmt):
				// b.Insert appends any document as the next statement:
				// this one, built here, is byte for byte b.Update's
				// (TestUpdateStatement), without bsoncore's key checks.
				b.Insert(appendUpdate(stmt[:0], ops[i].ID, d))
			default:
				b.Update(ops[i].ID, d)
			}
		}
	}
	return b.End(wc)
}

// updateLen is the length of appendUpdate's statement.
func updateLen(id bson.RawValue, u bson.Raw) int {
	return 4 + (3 + 4 + 5 + len(id.Value) + 1) + 3 + len(u) + (8 + 1) + 1
}

// appendUpdate appends the statement {q: {_id: id}, u: u, upsert: true}
// to dst.
func appendUpdate(dst []byte, id bson.RawValue, u bson.Raw) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(bsoncore.TypeEmbeddedDocument), 'q', 0)
	q := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(id.Type), '_', 'i', 'd', 0)
	dst = append(dst, id.Value...)
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[q:], uint32(len(dst)-q))
	dst = append(dst, byte(bsoncore.TypeEmbeddedDocument), 'u', 0)
	dst = append(dst, u...)
	dst = append(dst, byte(bsoncore.TypeBoolean), 'u', 'p', 's', 'e', 'r', 't', 0, 1, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// Raw BSON builders for the hot path: the driver copies bson.Raw filters
// and updates as bytes, where a bson.D goes through reflection.

// idFilter is {_id: id}.
func idFilter(id bson.RawValue) bson.Raw {
	idx, doc := bsoncore.AppendDocumentStart(make([]byte, 0, 16+len(id.Value)))
	doc = bsoncore.AppendValueElement(doc, "_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	return doc
}
