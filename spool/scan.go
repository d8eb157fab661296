package spool

import (
	"encoding/binary"
	"fmt"

	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// scanEntry is Append's fast check of one entry: a single walk over the
// top-level elements that finds the ts as it goes. It accepts (valid true)
// only documents that bson.Raw.Validate accepts too, and only plain ones:
// the declared length is the slice's length, every element ends before the
// terminating null, and its type is one Validate knows, with a length it
// accepts. Anything else gets valid false, and the caller asks Validate,
// which stays the judge of what is valid BSON and words the error. ts is the
// first element named ts, as LookupErr finds it; hasTS is false when there
// is none or it is not a timestamp.
func scanEntry(raw []byte) (ts bson.Timestamp, hasTS, valid bool) {
	if len(raw) < 5 || len(raw) > MaxEntryBytes {
		return ts, false, false
	}
	end := len(raw) - 1 // the terminating null
	if int(int32(binary.LittleEndian.Uint32(raw))) != len(raw) || raw[end] != 0 {
		return ts, false, false
	}
	seenTS := false
	for i := 4; i < end; {
		t := bson.Type(raw[i])
		k := i + 1
		j := 0 // the key's length: keys are short, a loop beats IndexByte
		for k+j < end && raw[k+j] != 0 {
			j++
		}
		if k+j == end {
			return ts, false, false
		}
		v := k + j + 1 // the value starts after the key's null
		n, ok := scanValueLen(raw[v:end], t)
		if !ok {
			return ts, false, false
		}
		if !seenTS && j == 2 && raw[k] == 't' && raw[k+1] == 's' {
			seenTS = true
			if t == bson.TypeTimestamp {
				ts = bson.Timestamp{T: binary.LittleEndian.Uint32(raw[v+4:]), I: binary.LittleEndian.Uint32(raw[v:])}
				hasTS = true
			}
		}
		i = v + n
	}
	return ts, hasTS, true
}

// scanValueLen is the length of a value of type t at the start of b, ok
// only when the value fits in b and Validate would take it: a length prefix
// is not negative, and an embedded document, array or code with scope
// claims at least the 4 bytes of its own length (Validate reads them).
func scanValueLen(b []byte, t bson.Type) (n int, ok bool) {
	n, ok = bsonx.ValueLen(byte(t), b)
	switch t {
	case bson.TypeEmbeddedDocument, bson.TypeArray, bson.TypeCodeWithScope:
		// A length below 4 cannot hold itself: bsoncore would step over
		// it, Validate would not; the caller asks Validate.
		ok = ok && n >= 4
	}
	return n, ok
}

// validate is bson.Raw.Validate, with a panic as an error: the driver
// slices out of range on some lengths near 2^31 (a binary of length
// 0x7FFFFFFF), and bad input must get an error, not stop the process.
func validate(raw bson.Raw) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return raw.Validate()
}
