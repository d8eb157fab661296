package bsonx

import (
	"bytes"
	"encoding/binary"
)

// BSON type bytes, as the spec numbers them.
const (
	typeDouble     = 0x01
	typeString     = 0x02
	typeDocument   = 0x03
	typeArray      = 0x04
	typeBinary     = 0x05
	typeUndefined  = 0x06
	typeObjectID   = 0x07
	typeBoolean    = 0x08
	typeDateTime   = 0x09
	typeNull       = 0x0A
	typeRegex      = 0x0B
	typeDBPointer  = 0x0C
	typeJavaScript = 0x0D
	typeSymbol     = 0x0E
	typeCodeScope  = 0x0F
	typeInt32      = 0x10
	typeTimestamp  = 0x11
	typeInt64      = 0x12
	typeDecimal128 = 0x13
	typeMinKey     = 0xFF
	typeMaxKey     = 0x7F
)

// ValueLen is the length of the value of BSON type t at the start of src,
// counted as the driver's bsoncore counts it (a length prefix is taken as
// declared, if not negative), and whether src holds that much. An unknown
// type is false. Hot paths walk raw entries with it; what it accepts is
// never more than bsoncore would step over.
func ValueLen(t byte, src []byte) (int, bool) {
	var n int
	switch t {
	case typeDouble, typeDateTime, typeInt64, typeTimestamp:
		n = 8
	case typeInt32:
		n = 4
	case typeBoolean:
		n = 1
	case typeObjectID:
		n = 12
	case typeDecimal128:
		n = 16
	case typeNull, typeUndefined, typeMinKey, typeMaxKey:
		n = 0
	case typeString, typeJavaScript, typeSymbol, typeDocument, typeArray, typeCodeScope, typeBinary, typeDBPointer:
		if len(src) < 4 {
			return 0, false
		}
		l := int32(binary.LittleEndian.Uint32(src))
		if l < 0 {
			return 0, false
		}
		n = int(l)
		switch t {
		case typeString, typeJavaScript, typeSymbol:
			n += 4
		case typeBinary:
			n += 4 + 1
		case typeDBPointer:
			n += 4 + 12
		}
	case typeRegex:
		pattern := bytes.IndexByte(src, 0)
		if pattern < 0 {
			return 0, false
		}
		opts := bytes.IndexByte(src[pattern+1:], 0)
		if opts < 0 {
			return 0, false
		}
		n = pattern + 1 + opts + 1
	default:
		return 0, false
	}
	return n, n <= len(src)
}
