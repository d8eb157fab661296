// Package wirecmd builds MongoDB write commands (insert, update, delete) as
// raw BSON, statement by statement, straight from documents' bytes: no
// write models, no reflection, one reused buffer. The driver sends them as
// they are (RunCommand), so the caller adds the write concern.
package wirecmd

import (
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// MaxStatementBytes bounds the statements of one command. The server takes a
// command document of up to 16 MB + 16 KB; a single statement larger than
// this still goes alone.
const MaxStatementBytes = 16<<20 - 64<<10

// Builder appends one write command to its buffer, which it reuses.
type Builder struct {
	// Bypass adds bypassDocumentValidation: true to insert and update
	// commands: oplog
	// application and a copy write what the source holds, which may predate
	// (or break) a validator the destination collection carries.
	Bypass bool

	buf        []byte
	doc, array int32 // where the command and its statement array start
	n          int   // statements so far
}

// Begin starts {<name>: coll, ordered: ordered, <field>: [.
func (b *Builder) Begin(name, coll, field string, ordered bool) {
	b.buf = b.buf[:0]
	b.doc, b.buf = bsoncore.AppendDocumentStart(b.buf)
	b.buf = bsoncore.AppendStringElement(b.buf, name, coll)
	b.buf = bsoncore.AppendBooleanElement(b.buf, "ordered", ordered)
	if b.Bypass && name != "delete" { // delete has no such field
		b.buf = bsoncore.AppendBooleanElement(b.buf, "bypassDocumentValidation", true)
	}
	b.array, b.buf = bsoncore.AppendArrayElementStart(b.buf, field)
	b.n = 0
}

// key appends the header of the next array element.
func (b *Builder) key(t bsoncore.Type) {
	b.buf = append(b.buf, byte(t))
	b.buf = strconv.AppendInt(b.buf, int64(b.n), 10)
	b.buf = append(b.buf, 0)
	b.n++
}

// Insert appends a document to insert.
func (b *Builder) Insert(doc bson.Raw) {
	b.key(bsoncore.TypeEmbeddedDocument)
	b.buf = append(b.buf, doc...)
}

// idQuery appends q: {_id: id}.
func (b *Builder) idQuery(id bson.RawValue) {
	b.buf = bsoncore.AppendHeader(b.buf, bsoncore.TypeEmbeddedDocument, "q")
	q, buf := bsoncore.AppendDocumentStart(b.buf)
	buf = bsoncore.AppendHeader(buf, bsoncore.Type(id.Type), "_id")
	buf = append(buf, id.Value...)
	b.buf, _ = bsoncore.AppendDocumentEnd(buf, q)
}

// Update appends {q: {_id: id}, u: u, upsert: true}: a replacement when u
// has no operators, an update otherwise.
func (b *Builder) Update(id bson.RawValue, u bson.Raw) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	b.buf = buf
	b.idQuery(id)
	b.buf = bsoncore.AppendDocumentElement(b.buf, "u", u)
	b.buf = bsoncore.AppendBooleanElement(b.buf, "upsert", true)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, st)
}

// ReplaceLiteral appends {q: {_id: id}, u: [{$replaceWith: {$literal: doc}}],
// upsert: true}: a replacement by a document with top-level $-prefixed
// field names, which a plain replacement may not carry (MongoDB 5.0+ stores
// such names; a pipeline writes them, and $literal keeps them from being
// read as expressions).
func (b *Builder) ReplaceLiteral(id bson.RawValue, doc bson.Raw) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	b.buf = buf
	b.idQuery(id)
	var pipe, stage, with int32
	pipe, b.buf = bsoncore.AppendArrayElementStart(b.buf, "u")
	stage, b.buf = bsoncore.AppendDocumentElementStart(b.buf, "0")
	with, b.buf = bsoncore.AppendDocumentElementStart(b.buf, "$replaceWith")
	b.buf = bsoncore.AppendDocumentElement(b.buf, "$literal", doc)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, with)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, stage)
	b.buf, _ = bsoncore.AppendArrayEnd(b.buf, pipe)
	b.buf = bsoncore.AppendBooleanElement(b.buf, "upsert", true)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, st)
}

// UpdateQ appends {q: q, u: u, upsert: upsert}: a statement whose query
// the caller built (a sharded destination's: _id and the shard key).
func (b *Builder) UpdateQ(q, u bson.Raw, upsert bool) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	buf = bsoncore.AppendDocumentElement(buf, "q", q)
	buf = bsoncore.AppendDocumentElement(buf, "u", u)
	buf = bsoncore.AppendBooleanElement(buf, "upsert", upsert)
	b.buf, _ = bsoncore.AppendDocumentEnd(buf, st)
}

// ReplaceLiteralQ is ReplaceLiteral with the caller's query q.
func (b *Builder) ReplaceLiteralQ(q, doc bson.Raw, upsert bool) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	buf = bsoncore.AppendDocumentElement(buf, "q", q)
	buf = bsoncore.AppendArrayElement(buf, "u", LiteralReplacement(doc))
	buf = bsoncore.AppendBooleanElement(buf, "upsert", upsert)
	b.buf, _ = bsoncore.AppendDocumentEnd(buf, st)
}

// LiteralReplacement is the pipeline [{$replaceWith: {$literal: doc}}] (see
// ReplaceLiteral), as a raw array.
func LiteralReplacement(doc bson.Raw) bson.RawArray {
	arr, buf := bsoncore.AppendArrayStart(nil)
	stage, buf := bsoncore.AppendDocumentElementStart(buf, "0")
	with, buf := bsoncore.AppendDocumentElementStart(buf, "$replaceWith")
	buf = bsoncore.AppendDocumentElement(buf, "$literal", doc)
	buf, _ = bsoncore.AppendDocumentEnd(buf, with)
	buf, _ = bsoncore.AppendDocumentEnd(buf, stage)
	buf, _ = bsoncore.AppendArrayEnd(buf, arr)
	return buf
}

// DeleteQ appends {q: q, limit: 1}.
func (b *Builder) DeleteQ(q bson.Raw) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	buf = bsoncore.AppendDocumentElement(buf, "q", q)
	buf = bsoncore.AppendInt32Element(buf, "limit", 1)
	b.buf, _ = bsoncore.AppendDocumentEnd(buf, st)
}

// Delete appends {q: {_id: id}, limit: 1}.
func (b *Builder) Delete(id bson.RawValue) {
	b.key(bsoncore.TypeEmbeddedDocument)
	st, buf := bsoncore.AppendDocumentStart(b.buf)
	b.buf = buf
	b.idQuery(id)
	b.buf = bsoncore.AppendInt32Element(b.buf, "limit", 1)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, st)
}

// End closes the array, adds the write concern element wc (may be empty)
// and closes the command.
func (b *Builder) End(wc []byte) bson.Raw {
	b.buf, _ = bsoncore.AppendArrayEnd(b.buf, b.array)
	b.buf = append(b.buf, wc...)
	b.buf, _ = bsoncore.AppendDocumentEnd(b.buf, b.doc)
	return b.buf
}

// Len is the size of the command so far.
func (b *Builder) Len() int { return len(b.buf) }

// WriteConcern is the writeConcern element for wc, empty for the server's
// default. mongo-sync records progress only past acknowledged writes, so
// w:0 is refused.
func WriteConcern(wc *writeconcern.WriteConcern) ([]byte, error) {
	if wc == nil || (wc.W == nil && wc.Journal == nil) {
		return nil, nil
	}
	if !wc.Acknowledged() {
		return nil, fmt.Errorf("destination write concern w:0 is not supported: mongo-sync records progress only past acknowledged writes")
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
