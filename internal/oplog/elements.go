package oplog

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// ErrMalformed is a walk that met malformed BSON.
var ErrMalformed = errors.New("malformed BSON entry")

// Elements walks the top-level elements of a document, without allocating:
//
//	it := oplog.ElementsOf(doc)
//	for it.Next() {
//		use(it.Key(), it.Val())
//	}
//	if err := it.Err(); err != nil { ... }
//
// A document shorter than 5 bytes, or an element that runs past the
// document, ends the walk with ErrMalformed. The walk keeps offsets, not
// slices: Next stores no pointers (no write barriers), and Key and Val
// inline into the caller.
type Elements struct {
	b      []byte // the document's elements
	pos    int    // where the next element starts
	k0, k1 int    // the current key is b[k0:k1], its value b[k1+1:pos]
	t      bsoncore.Type
	bad    bool
}

// ElementsOf walks doc's elements.
func ElementsOf(doc []byte) Elements {
	if len(doc) < 5 {
		return Elements{bad: true}
	}
	return Elements{b: doc[4 : len(doc)-1]}
}

// Next moves to the next element; false at the end or at a malformed
// element.
func (it *Elements) Next() bool {
	b, p := it.b, it.pos
	if p >= len(b) {
		return false
	}
	i := keyEnd(b, p+1)
	if i < 0 {
		return it.fail()
	}
	t := bsoncore.Type(b[p])
	v := i + 1 // the value's offset
	n := int(valueSizes[t])
	switch {
	case n >= 0:
	case n == sizeOther:
		var ok bool
		if n, ok = valueLen(t, b[v:]); !ok {
			return it.fail()
		}
	default: // an int32 length prefix, and -1-n bytes it does not count
		if len(b)-v < 4 {
			return it.fail()
		}
		l := int32(binary.LittleEndian.Uint32(b[v:]))
		if l < 0 {
			return it.fail()
		}
		n = int(l) + (-1 - n)
	}
	if n > len(b)-v {
		return it.fail()
	}
	it.t, it.k0, it.k1, it.pos = t, p+1, i, v+n
	return true
}

// keyEnd is the index of the first NUL in b at or after i, -1 if none.
// Keys are short: eight bytes at a time finds most in one step, before
// bytes.IndexByte would have set up.
func keyEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		// The lowest byte of w that is zero is the lowest whose bit 7
		// is set in z (higher ones may be set falsely, by a borrow).
		w := binary.LittleEndian.Uint64(b[i:])
		if z := (w - 0x0101010101010101) &^ w & 0x8080808080808080; z != 0 {
			return i + bits.TrailingZeros64(z)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i] == 0 {
			return i
		}
	}
	return -1
}

func (it *Elements) fail() bool {
	it.bad, it.pos = true, len(it.b)
	return false
}

// Key is the current element's key.
func (it *Elements) Key() []byte { return it.b[it.k0:it.k1] }

// Val is the current element's value.
func (it *Elements) Val() bsoncore.Value {
	return bsoncore.Value{Type: it.t, Data: it.b[it.k1+1 : it.pos]}
}

// Rest is the elements after the current one.
func (it *Elements) Rest() []byte { return it.b[it.pos:] }

// Err is ErrMalformed when the walk met malformed BSON.
func (it *Elements) Err() error {
	if it.bad {
		return ErrMalformed
	}
	return nil
}

// sizeOther marks the types valueLen sizes (regex) or rejects.
const sizeOther = -128

// valueSizes is, for each type, the length of its values when fixed;
// -1-k for a value that starts with an int32 length that leaves out k
// bytes (as bsoncore's valueLength counts them); sizeOther else.
var valueSizes = func() (l [256]int8) {
	for i := range l {
		l[i] = sizeOther
	}
	for _, t := range []bsoncore.Type{bsoncore.TypeDouble, bsoncore.TypeDateTime, bsoncore.TypeInt64, bsoncore.TypeTimestamp} {
		l[t] = 8
	}
	l[bsoncore.TypeInt32] = 4
	l[bsoncore.TypeBoolean] = 1
	l[bsoncore.TypeObjectID] = 12
	l[bsoncore.TypeDecimal128] = 16
	for _, t := range []bsoncore.Type{bsoncore.TypeNull, bsoncore.TypeUndefined, bsoncore.TypeMinKey, bsoncore.TypeMaxKey} {
		l[t] = 0
	}
	for _, t := range []bsoncore.Type{bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray, bsoncore.TypeCodeWithScope} {
		l[t] = -1
	}
	for _, t := range []bsoncore.Type{bsoncore.TypeString, bsoncore.TypeJavaScript, bsoncore.TypeSymbol} {
		l[t] = -1 - 4
	}
	l[bsoncore.TypeBinary] = -1 - (4 + 1)     // + the subtype
	l[bsoncore.TypeDBPointer] = -1 - (4 + 12) // + the ObjectId
	return l
}()

// DocOK is bsoncore.Value.DocumentOK without its calls: an embedded
// document whose length prefix is at least 4 and within the value.
func DocOK(v bsoncore.Value) (bson.Raw, bool) {
	if v.Type != bsoncore.TypeEmbeddedDocument || len(v.Data) < 4 {
		return nil, false
	}
	l := int32(binary.LittleEndian.Uint32(v.Data))
	if l < 4 || int(l) > len(v.Data) {
		return nil, false
	}
	return bson.Raw(v.Data[:l]), true
}

// nextElement splits the first element off rest (a document's elements):
// its key and value. It accepts and rejects what bsoncore.ReadValue does.
func nextElement(rest []byte) (key []byte, v bsoncore.Value, tail []byte, ok bool) {
	it := Elements{b: rest}
	if !it.Next() {
		return nil, v, nil, false
	}
	return it.Key(), it.Val(), it.Rest(), true
}

// valueLen is bsonx.ValueLen for a bsoncore type.
func valueLen(t bsoncore.Type, src []byte) (int, bool) { return bsonx.ValueLen(byte(t), src) }
