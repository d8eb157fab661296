package verify

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"math/big"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The walk merges cursors that the server sorted by _id, so it must order
// two _ids exactly as the server does, for every BSON type. The rules are
// mongod's, read from (repository mongodb/mongo):
//   - src/mongo/bson/bsontypes.h, canonicalizeBSONType: the order of types;
//     types of one canonical class (the numbers; string and symbol; EOO and
//     undefined) compare by value;
//   - src/mongo/bson/bsonelement.cpp, BSONElement::compareElements and
//     woCompare: the order of values within a class;
//   - src/mongo/bson/bsonobj.cpp, BSONObj::woCompare: documents and arrays
//     element by element (canonical type, then field name, then value), the
//     shorter first when one is a prefix of the other;
//   - src/mongo/base/compare_numbers.h: numbers of any type by exact value,
//     NaN below every other number and equal to NaN.
// Strings compare by their bytes: the simple collation, which every sorted
// read asks for.

// canonicalType is canonicalizeBSONType: the rank of a type in the sort
// order; types of one rank compare by value.
func canonicalType(t bson.Type) int {
	switch t {
	case bson.TypeMinKey:
		return -1
	case bson.TypeUndefined:
		return 0
	case bson.TypeNull:
		return 5
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return 10
	case bson.TypeString, bson.TypeSymbol:
		return 15
	case bson.TypeEmbeddedDocument:
		return 20
	case bson.TypeArray:
		return 25
	case bson.TypeBinary:
		return 30
	case bson.TypeObjectID:
		return 35
	case bson.TypeBoolean:
		return 40
	case bson.TypeDateTime:
		return 45
	case bson.TypeTimestamp:
		return 47
	case bson.TypeRegex:
		return 50
	case bson.TypeDBPointer:
		return 55
	case bson.TypeJavaScript:
		return 60
	case bson.TypeCodeWithScope:
		return 65
	case bson.TypeMaxKey:
		return 127
	}
	return 200 // not a BSON type mongod stores; after all of them
}

// compareValues orders two BSON values as mongod sorts them: negative, zero
// or positive.
func compareValues(x, y bson.RawValue) int {
	if c := cmp.Compare(canonicalType(x.Type), canonicalType(y.Type)); c != 0 {
		return c
	}
	switch x.Type {
	case bson.TypeMinKey, bson.TypeMaxKey, bson.TypeNull, bson.TypeUndefined:
		return 0
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return compareNumbers(x, y)
	case bson.TypeString, bson.TypeSymbol:
		return strings.Compare(stringOf(x), stringOf(y))
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		return compareDocs(x.Value, y.Value)
	case bson.TypeBinary:
		// The length of the data first, then the subtype, then the bytes.
		if c := cmp.Compare(int(le32(x.Value)), int(le32(y.Value))); c != 0 {
			return c
		}
		return bytes.Compare(x.Value[4:], y.Value[4:])
	case bson.TypeObjectID, bson.TypeBoolean:
		return bytes.Compare(x.Value, y.Value)
	case bson.TypeDateTime:
		return cmp.Compare(int64(binary.LittleEndian.Uint64(x.Value)), int64(binary.LittleEndian.Uint64(y.Value)))
	case bson.TypeTimestamp:
		// Unsigned: seconds in the high half, the increment in the low.
		a, b := binary.LittleEndian.Uint64(x.Value), binary.LittleEndian.Uint64(y.Value)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	case bson.TypeRegex:
		xp, xo := x.Regex()
		yp, yo := y.Regex()
		if c := strings.Compare(xp, yp); c != 0 {
			return c
		}
		return strings.Compare(xo, yo)
	case bson.TypeDBPointer:
		// The value's size first (that is, the namespace's length), then
		// its bytes.
		if c := cmp.Compare(len(x.Value), len(y.Value)); c != 0 {
			return c
		}
		return bytes.Compare(x.Value, y.Value)
	case bson.TypeJavaScript:
		return strings.Compare(x.JavaScript(), y.JavaScript())
	case bson.TypeCodeWithScope:
		xc, xs := x.CodeWithScope()
		yc, ys := y.CodeWithScope()
		if c := strings.Compare(xc, yc); c != 0 {
			return c
		}
		return compareDocs(xs, ys)
	}
	return bytes.Compare(x.Value, y.Value)
}

// compareDocs is BSONObj::woCompare with field names considered: element by
// element, each by canonical type, then name, then value; a document that
// is a prefix of the other sorts first.
func compareDocs(x, y []byte) int {
	xe, _ := bson.Raw(x).Elements()
	ye, _ := bson.Raw(y).Elements()
	for i := 0; ; i++ {
		switch {
		case i == len(xe) && i == len(ye):
			return 0
		case i == len(xe):
			return -1
		case i == len(ye):
			return 1
		}
		a, b := xe[i].Value(), ye[i].Value()
		if c := cmp.Compare(canonicalType(a.Type), canonicalType(b.Type)); c != 0 {
			return c
		}
		if c := strings.Compare(xe[i].Key(), ye[i].Key()); c != 0 {
			return c
		}
		if c := compareValues(a, b); c != 0 {
			return c
		}
	}
}

// compareNumbers compares int32, int64, double and decimal128 values by
// their exact value. NaN (double or decimal) sorts below every number and
// equals NaN; -0 equals 0.
func compareNumbers(x, y bson.RawValue) int {
	xi, xInt := integer(x)
	yi, yInt := integer(y)
	if xInt && yInt {
		return cmp.Compare(xi, yi)
	}
	if x.Type == bson.TypeDouble && y.Type == bson.TypeDouble {
		return compareDoubles(x.Double(), y.Double())
	}
	xc, xr := exact(x)
	yc, yr := exact(y)
	switch {
	case xc == nan || yc == nan:
		return cmp.Compare(btoi(xc != nan), btoi(yc != nan))
	case xc != finite || yc != finite:
		return cmp.Compare(int(xc), int(yc))
	}
	return xr.Cmp(yr)
}

func compareDoubles(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	return cmp.Compare(btoi(!math.IsNaN(a)), btoi(!math.IsNaN(b)))
}

// numClass sorts the kinds of number: NaN, -Inf, finite, +Inf.
type numClass int

const (
	nan numClass = iota - 2
	negInf
	finite
	posInf
)

// exact is a number's class and, when finite, its exact value.
func exact(v bson.RawValue) (numClass, *big.Rat) {
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64:
		i, _ := integer(v)
		return finite, new(big.Rat).SetInt64(i)
	case bson.TypeDouble:
		f := v.Double()
		switch {
		case math.IsNaN(f):
			return nan, nil
		case math.IsInf(f, 1):
			return posInf, nil
		case math.IsInf(f, -1):
			return negInf, nil
		}
		return finite, new(big.Rat).SetFloat64(f)
	}
	d := v.Decimal128()
	switch {
	case d.IsNaN():
		return nan, nil
	case d.IsInf() > 0:
		return posInf, nil
	case d.IsInf() < 0:
		return negInf, nil
	}
	m, e, err := d.BigInt()
	if err != nil {
		return nan, nil
	}
	r := new(big.Rat).SetInt(m)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
	if e >= 0 {
		return finite, r.Mul(r, new(big.Rat).SetInt(p))
	}
	return finite, r.Quo(r, new(big.Rat).SetInt(p))
}

func integer(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	}
	return 0, false
}

func stringOf(v bson.RawValue) string {
	if v.Type == bson.TypeSymbol {
		return v.Symbol()
	}
	return v.StringValue()
}

func le32(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}
