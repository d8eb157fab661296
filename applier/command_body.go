package applier

import (
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The write commands are built here as raw BSON, statement by statement,
// straight from the oplog entries' bytes: no write models, no reflection,
// one reused buffer per worker. The driver sends them as they are.

// maxStatementBytes bounds the statements of one command. The server takes a
// command document of up to 16 MB + 16 KB; a single statement larger than
// this still goes alone.
const maxStatementBytes = 16<<20 - 64<<10

// statementLen is an upper bound of op's statement size.
func statementLen(op *Op) int {
	return len(op.Doc) + len(op.ID.Value) + 64
}

// class is the write command an op goes in.
type class uint8

const (
	classInsert     class = iota + 1 // unordered insert; duplicates replaced after
	classInsertOnly                  // ordered insert
	classUpdate                      // ordered update (replace or modify, upsert)
	classDelete                      // ordered delete
)

func classOf(k Kind) class {
	switch k {
	case KindInsert:
		return classInsert
	case KindInsertOnly:
		return classInsertOnly
	case KindDelete:
		return classDelete
	}
	return classUpdate
}

// runLen is how many ops from the start of ops go in one command: the same
// namespace and class, at most bulk statements and maxStatementBytes bytes.
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
		if size += statementLen(op); size > maxStatementBytes {
			break
		}
		n++
	}
	return n
}

// cmdBuilder appends one write command to its buffer, which it reuses.
type cmdBuilder struct {
	buf        []byte
	doc, array int32 // where the command and its statement array start
	n          int   // statements so far
}

// begin starts {<name>: coll, ordered: ordered, <field>: [.
func (b *cmdBuilder) begin(name, coll, field string, ordered bool) {
	b.buf = b.buf[:0]
	b.doc, b.buf = bsoncore.AppendDocumentStart(b.buf)
	b.buf = bsoncore.AppendStringElement(b.buf, name, coll)
	b.buf = bsoncore.AppendBooleanElement(b.buf, "ordered", ordered)
	b.array, b.buf = bsoncore.AppendArrayElementStart(b.buf, field)
	b.n = 0
}

// key appends the header of the next array element.
func (b *cmdBuilder) key(t bsoncore.Type) {
	b.buf = append(b.buf, byte(t))
	b.buf = strconv.AppendInt(b.buf, int64(b.n), 10)
	b.buf = append(b.buf, 0)
	b.n++
}

// insert appends a document to insert.
func (b *cmdBuilder) insert(doc bson.Raw) {
	b.key(bsoncore.TypeEmbeddedDocument)
	b.buf = append(b.buf, doc...)
}

// idQuery appends q: {_id: id}.
func (b *cmdBuilder) idQuery(id bson.RawValue) {
	b.buf = bsoncore.AppendHeader(b.buf, bsoncore.TypeEmbeddedDocument, "q")
	q, buf := bsoncore.AppendDocumentStart(b.buf)
	buf = bsoncore.AppendHeader(buf, bsoncore.Type(id.Type), "_id")
	buf = append(buf, id.Value...)
	b.buf, _ = bsoncore.AppendDocumentEnd(buf, q)
}

// update appends {q: {_id: id}, u: u, upsert: true}: a replacement when u
// has no operators, an update otherwise.
func (b *cmdBuilder) update(id bson.RawValue, u bson.Raw) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	b.buf = buf
	b.idQuery(id)
	b.buf = bsoncore.AppendDocumentElement(b.buf, "u", u)
	b.buf = bsoncore.AppendBooleanElement(b.buf, "upsert", true)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, st)
}

// delete appends {q: {_id: id}, limit: 1}.
func (b *cmdBuilder) delete(id bson.RawValue) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	b.buf = buf
	b.idQuery(id)
	b.buf = bsoncore.AppendInt32Element(b.buf, "limit", 1)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, st)
}

// end closes the array, adds the write concern element wc (may be empty)
// and closes the command.
func (b *cmdBuilder) end(wc []byte) bson.Raw {
	b.buf, _ = bsoncore.AppendArrayEnd(b.buf, b.array)
	b.buf = append(b.buf, wc...)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, b.doc)
	return b.buf
}

// build makes the command for a run of ops (see runLen) whose documents are
// already resolved: docs[i] replaces ops[i].Doc when docs is not nil.
func (b *cmdBuilder) build(coll string, ops []Op, docs []bson.Raw, wc []byte) bson.Raw {
	doc := func(i int) bson.Raw {
		if docs != nil {
			return docs[i]
		}
		return ops[i].Doc
	}
	switch classOf(ops[0].Kind) {
	case classInsert, classInsertOnly:
		b.begin("insert", coll, "documents", classOf(ops[0].Kind) == classInsertOnly)
		for i := range ops {
			b.insert(doc(i))
		}
	case classDelete:
		b.begin("delete", coll, "deletes", true)
		for i := range ops {
			b.delete(ops[i].ID)
		}
	default:
		b.begin("update", coll, "updates", true)
		for i := range ops {
			b.update(ops[i].ID, doc(i))
		}
	}
	return b.end(wc)
}

// writeConcernElement is the writeConcern element for wc, empty for the
// server's default. The applier moves its checkpoint only past
// acknowledged writes, so w:0 is refused.
func writeConcernElement(wc *writeconcern.WriteConcern) ([]byte, error) {
	if wc == nil || (wc.W == nil && wc.Journal == nil) {
		return nil, nil
	}
	if !wc.Acknowledged() {
		return nil, fmt.Errorf("destination write concern w:0 is not supported: the applier moves its checkpoint only past acknowledged writes")
	}
	d := bson.D{}
	if wc.W != nil {
		d = append(d, bson.E{Key: "w", Value: wc.W})
	}
	if wc.Journal != nil {
		d = append(d, bson.E{Key: "j", Value: *wc.Journal})
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("destination write concern: %w", err)
	}
	return bsoncore.AppendDocumentElement(nil, "writeConcern", raw), nil
}
