package exec

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// partitioner hashes documents to workers, reusing one buffer.
type partitioner struct {
	buf []byte
}

// of is the worker of a document: murmur3 over the namespace and the raw
// BSON of its _id (type byte + value bytes), never a Go type, in a
// canonical form (appendCanon): _ids that MongoDB holds equal, such as
// int32 1, int64 1 and 1.0, are one document and go to one worker.
func (p *partitioner) of(ns string, id bson.RawValue, workers int) int {
	p.buf = append(append(p.buf[:0], ns...), 0)
	p.buf = appendCanon(p.buf, id.Type, id.Value)
	return int(murmur32(p.buf) % uint32(workers))
}

// murmur32 is MurmurHash3 x86_32 with seed 0, the value of
// github.com/spaolacci/murmur3's 32-bit hash (TestMurmur32_IsMurmur3), computed
// in place: the library's streaming hasher costs an interface call per
// step and a copy of the tail, and its Sum32 reads through unsafe
// pointers, which the race detector's checkptr rejects.
func murmur32(b []byte) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	var h uint32
	n := len(b)
	for ; len(b) >= 4; b = b[4:] {
		k := binary.LittleEndian.Uint32(b)
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch len(b) {
	case 3:
		k ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		k ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		k ^= uint32(b[0])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(n)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// Partition is the worker of a document (see partitioner.of).
func Partition(ns string, id bson.RawValue, workers int) int {
	var p partitioner
	return p.of(ns, id, workers)
}

// appendCanon appends the raw BSON value v of type t in a form that is the
// same for values MongoDB compares equal:
//   - numbers (int32, int64, double, decimal128) by value: a double when
//     one equals the value (-0 is 0, every NaN one NaN), else an int64,
//     else the decimal with its trailing zeros stripped;
//   - a symbol as the string it holds;
//   - documents, arrays and code-with-scope element by element, each
//     value in this form (field names and order count, as in MongoDB).
//
// Other types are their type byte and value bytes. Only equal values must
// meet; unequal ones that collide merely share a worker. ObjectIds,
// strings and integers take no allocation.
func appendCanon(dst []byte, t bson.Type, v []byte) []byte {
	switch t {
	case bson.TypeInt32:
		if len(v) == 4 {
			return appendDouble(dst, float64(int32(binary.LittleEndian.Uint32(v))))
		}
	case bson.TypeInt64:
		if len(v) == 8 {
			return appendInt64(dst, int64(binary.LittleEndian.Uint64(v)))
		}
	case bson.TypeDouble:
		if len(v) == 8 {
			return appendDouble(dst, math.Float64frombits(binary.LittleEndian.Uint64(v)))
		}
	case bson.TypeDecimal128:
		if len(v) == 16 {
			return appendDecimal(dst, v)
		}
	case bson.TypeSymbol:
		t = bson.TypeString
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		if out, ok := appendCanonDoc(append(dst, byte(t)), v); ok {
			return out
		}
	case bson.TypeCodeWithScope:
		if out, ok := appendCanonCodeWScope(append(dst, byte(t)), v); ok {
			return out
		}
	}
	return append(append(dst, byte(t)), v...)
}

// canonNaN is the one NaN every NaN hashes as.
const canonNaN = 0x7ff8000000000001

func appendDouble(dst []byte, f float64) []byte {
	bits := math.Float64bits(f)
	switch {
	case f == 0: // and -0
		bits = 0
	case f != f:
		bits = canonNaN
	}
	return binary.LittleEndian.AppendUint64(append(dst, byte(bson.TypeDouble)), bits)
}

// appendInt64 is n as the double that equals it, or as itself when no
// double does (beyond 2^53 not every integer is a double).
func appendInt64(dst []byte, n int64) []byte {
	if f := float64(n); f >= -(1<<63) && f < 1<<63 && int64(f) == n {
		return appendDouble(dst, f)
	}
	return binary.LittleEndian.AppendUint64(append(dst, byte(bson.TypeInt64)), uint64(n))
}

var bigTen = big.NewInt(10)

// appendDecimal is a decimal128 (16 raw bytes) in the canonical numeric
// form. MongoDB compares a decimal with an int64 exactly, and with a double
// as the double rounded to 34 significant digits.
func appendDecimal(dst []byte, v []byte) []byte {
	d := bson.NewDecimal128(binary.LittleEndian.Uint64(v[8:]), binary.LittleEndian.Uint64(v[:8]))
	if d.IsNaN() {
		return appendDouble(dst, math.NaN())
	}
	if inf := d.IsInf(); inf != 0 {
		return appendDouble(dst, math.Inf(inf))
	}
	coef, exp, err := d.BigInt()
	if err != nil {
		return append(append(dst, byte(bson.TypeDecimal128)), v...)
	}
	if coef.Sign() == 0 {
		return appendDouble(dst, 0)
	}
	coef, exp = normDecimal(coef, exp)
	// Beyond these exponents no double is near enough to match (a double's
	// 34-digit rounding lies within 1e-358..1.8e308).
	if exp >= -400 && exp <= 310 {
		r := new(big.Rat).SetInt(coef)
		p := new(big.Rat).SetInt(new(big.Int).Exp(bigTen, big.NewInt(int64(abs(exp))), nil))
		if exp >= 0 {
			r.Mul(r, p)
		} else {
			r.Quo(r, p)
		}
		if f, _ := r.Float64(); !math.IsInf(f, 0) && f != 0 && sameDecimal(round34(f), coef, exp) {
			return appendDouble(dst, f)
		}
		if r.IsInt() && r.Num().IsInt64() {
			return appendInt64(dst, r.Num().Int64())
		}
	}
	dst = append(dst, byte(bson.TypeDecimal128))
	dst = binary.AppendVarint(dst, int64(exp))
	dst = append(dst, byte(coef.Sign()+1))
	return append(dst, coef.Bytes()...)
}

// normDecimal strips the trailing zeros of coef × 10^exp: one form per
// value.
func normDecimal(coef *big.Int, exp int) (*big.Int, int) {
	q, r := new(big.Int), new(big.Int)
	for coef.Sign() != 0 {
		q.QuoRem(coef, bigTen, r)
		if r.Sign() != 0 {
			break
		}
		coef, q = q, coef
		exp++
	}
	return coef, exp
}

// round34 is f rounded to 34 significant digits, as MongoDB turns a double
// into a decimal128 to compare the two.
func round34(f float64) bson.Decimal128 {
	d, _ := bson.ParseDecimal128(strconv.FormatFloat(f, 'e', 33, 64))
	return d
}

func sameDecimal(d bson.Decimal128, coef *big.Int, exp int) bool {
	c, e, err := d.BigInt()
	if err != nil {
		return false
	}
	c, e = normDecimal(c, e)
	return e == exp && c.Cmp(coef) == 0
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// appendCanonDoc appends a document's (or array's) elements in canonical
// form; ok is false for malformed BSON.
func appendCanonDoc(dst []byte, doc []byte) ([]byte, bool) {
	if len(doc) < 5 {
		return dst, false
	}
	rem := doc[4 : len(doc)-1]
	for len(rem) > 0 {
		el, rest, ok := bsoncore.ReadElement(rem)
		if !ok {
			return dst, false
		}
		key, err := el.KeyBytesErr()
		if err != nil {
			return dst, false
		}
		val, err := el.ValueErr()
		if err != nil {
			return dst, false
		}
		dst = appendCanon(append(append(dst, key...), 0), bson.Type(val.Type), val.Data)
		rem = rest
	}
	return append(dst, 0), true
}

// appendCanonCodeWScope: the code as is, the scope document canonical.
func appendCanonCodeWScope(dst []byte, v []byte) ([]byte, bool) {
	code, scope, _, ok := bsoncore.ReadCodeWithScope(v)
	if !ok {
		return dst, false
	}
	dst = append(append(dst, code...), 0)
	return appendCanonDoc(dst, scope)
}
