package verify

import (
	"cmp"
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// val is v as a raw BSON value.
func val(t *testing.T, v any) bson.RawValue {
	t.Helper()
	b, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return bson.Raw(b).Lookup("v")
}

func dec(t *testing.T, s string) bson.Decimal128 {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func oid(last byte) bson.ObjectID {
	var o bson.ObjectID
	o[11] = last
	return o
}

func d(kv ...any) bson.D {
	out := bson.D{}
	for i := 0; i < len(kv); i += 2 {
		out = append(out, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return out
}

// TestCompareValues_MongodOrder lists values in the order mongod sorts them,
// written from mongod's rules (repository mongodb/mongo):
// src/mongo/bson/bsontypes.h canonicalizeBSONType (the order of types; the
// numbers one class, string and symbol one class, undefined before null),
// src/mongo/bson/bsonelement.cpp BSONElement::compareElements (values:
// Date signed, Timestamp unsigned, binData by length, then subtype, then
// bytes; regex by pattern then flags; dbPointer by size then bytes; code
// with scope by code then scope), src/mongo/bson/bsonobj.cpp
// BSONObj::woCompare (documents and arrays element by element: canonical
// type, then field name, then value; a prefix first) and
// src/mongo/base/compare_numbers.h (numbers by exact value across types,
// NaN below all). Every earlier value must sort before every later one.
func TestCompareValues_MongodOrder(t *testing.T) {
	two53 := int64(1) << 53
	ordered := []any{
		bson.MinKey{},
		bson.Undefined{},
		bson.Null{},
		// numbers, every type mixed
		math.NaN(),
		math.Inf(-1),
		dec(t, "-1E+400"),
		-math.MaxFloat64,
		int64(math.MinInt64),
		int32(-1),
		dec(t, "-0.1"),
		int32(0),
		dec(t, "0.1"), // below the double nearest 0.1, which is 0.1000000000000000055...
		0.1,
		int64(1),
		1.5,
		dec(t, "1.75"),
		int32(2),
		two53,
		two53 + 1, // equal to 2^53 as a double: compared exactly
		float64(two53 + 2),
		int64(math.MaxInt64),
		math.Pow(2, 63),
		dec(t, "1E+400"),
		math.Inf(1),
		// strings and symbols by bytes (simple collation)
		"",
		"A",
		"B",
		"a",
		"ab",
		bson.Symbol("abc"),
		"b",
		"é",
		// documents: element by element, type before name, a prefix first
		d(),
		d("a", nil),
		d("z", nil),
		d("a", int32(1)),
		d("a", 1.0, "b", int32(0)),
		d("a", int64(2)),
		d("b", int32(0)),
		d("a", "x"),
		d("a", d()),
		d("a", d("b", int32(1))),
		d("a", d("b", int32(1), "c", int32(0))),
		d("a", d("b", int32(2))),
		d("a", bson.A{int32(1)}),
		d("a", bson.A{int32(1), int32(2)}),
		d("a", bson.A{int32(2)}),
		// arrays after every document
		bson.A{},
		bson.A{nil},
		bson.A{int32(1)},
		bson.A{int32(1), int32(2)},
		bson.A{int32(1), "a"},
		bson.A{int32(2)},
		bson.A{"a"},
		bson.A{d()},
		bson.A{bson.A{}},
		// binary: length, then subtype, then bytes
		bson.Binary{Subtype: 0x00, Data: []byte{}},
		bson.Binary{Subtype: 0x00, Data: []byte{9}},
		bson.Binary{Subtype: 0x04, Data: []byte{0}},
		bson.Binary{Subtype: 0x80, Data: []byte{0}},
		bson.Binary{Subtype: 0x00, Data: []byte{0, 0}},
		bson.Binary{Subtype: 0x00, Data: []byte{0, 1}},
		bson.Binary{Subtype: 0x03, Data: []byte{0, 0}},
		bson.Binary{Subtype: 0x00, Data: []byte{0, 0, 0}},
		bson.Binary{Subtype: 0x00, Data: make([]byte, 255)},
		bson.Binary{Subtype: 0x00, Data: make([]byte, 256)}, // length bytes 00 01: after 255's ff 00
		oid(1),
		oid(2),
		bson.ObjectID{0xff},
		false,
		true,
		// dates: signed milliseconds (little-endian bytes would put 256
		// before 1 and every negative date last)
		bson.DateTime(math.MinInt64),
		bson.DateTime(-1),
		bson.DateTime(0),
		bson.DateTime(1),
		bson.DateTime(256),
		bson.DateTime(math.MaxInt64),
		// timestamps: unsigned, seconds before increment
		bson.Timestamp{T: 0, I: 0},
		bson.Timestamp{T: 1, I: 300},
		bson.Timestamp{T: 2, I: 0},
		bson.Timestamp{T: 1 << 31, I: 0},
		bson.Regex{Pattern: "a", Options: ""},
		bson.Regex{Pattern: "a", Options: "i"},
		bson.Regex{Pattern: "a", Options: "m"},
		bson.Regex{Pattern: "ab", Options: ""},
		bson.Regex{Pattern: "b", Options: ""},
		// dbPointer: the value's size (the namespace's length) first
		bson.DBPointer{DB: "zz", Pointer: oid(9)},
		bson.DBPointer{DB: "aaa", Pointer: oid(1)},
		bson.DBPointer{DB: "aaa", Pointer: oid(2)},
		bson.JavaScript("a"),
		bson.JavaScript("ab"),
		bson.JavaScript("b"),
		bson.CodeWithScope{Code: "a", Scope: d("x", int32(1))},
		bson.CodeWithScope{Code: "a", Scope: d("x", int32(2))},
		bson.CodeWithScope{Code: "b", Scope: d("x", int32(0))},
		bson.MaxKey{},
	}
	vals := make([]bson.RawValue, len(ordered))
	for i, v := range ordered {
		vals[i] = val(t, v)
	}
	for i := range vals {
		if c := compareValues(vals[i], vals[i]); c != 0 {
			t.Errorf("%s vs itself = %d, want 0", vals[i], c)
		}
		for j := i + 1; j < len(vals); j++ {
			if c := compareValues(vals[i], vals[j]); c >= 0 {
				t.Errorf("%s vs %s = %d, want < 0", vals[i], vals[j], c)
			}
			if c := compareValues(vals[j], vals[i]); c <= 0 {
				t.Errorf("%s vs %s = %d, want > 0", vals[j], vals[i], c)
			}
		}
	}
}

// Values of different BSON types that mongod holds equal (one _id in the
// unique _id index): numbers of one value in any type, NaN and NaN, -0 and
// 0, a string and a symbol of the same bytes, documents whose values are
// equal numbers of other types.
func TestCompareValues_MongodEqual(t *testing.T) {
	two53 := int64(1) << 53
	groups := [][]any{
		{int32(1), int64(1), 1.0, dec(t, "1"), dec(t, "1.00"), dec(t, "0.1E+1")},
		{math.NaN(), dec(t, "NaN"), -math.NaN()},
		{0.0, math.Copysign(0, -1), int32(0), dec(t, "-0"), dec(t, "0E-10")},
		{two53, float64(two53), dec(t, "9007199254740992")},
		{math.Inf(1), dec(t, "Infinity")},
		{math.Inf(-1), dec(t, "-Infinity")},
		{"ab", bson.Symbol("ab")},
		{d("a", int32(1), "b", d("c", int64(2))), d("a", 1.0, "b", d("c", dec(t, "2.0")))},
		{bson.A{int32(1), 2.0}, bson.A{int64(1), int32(2)}},
	}
	for _, g := range groups {
		for i := range g {
			for j := range g {
				x, y := val(t, g[i]), val(t, g[j])
				if c := compareValues(x, y); c != 0 {
					t.Errorf("%s vs %s = %d, want 0", x, y, c)
				}
			}
		}
	}
}

// cmpIDs orders documents by their _id with the same rules, an exhausted
// side last.
func TestCmpIDs_ServerOrder(t *testing.T) {
	cases := []struct {
		a, b any
		want int
	}{
		{int32(1), int64(2), -1}, {2.5, int32(2), 1}, {int32(3), int64(3), 0},
		{"a", "b", -1}, {int32(9), "a", -1}, {"z", bson.NewObjectID(), -1},
		{bson.DateTime(1), bson.DateTime(256), -1}, {bson.DateTime(-1), bson.DateTime(0), -1},
		{bson.Binary{Data: []byte{9}}, bson.Binary{Data: []byte{0, 0}}, -1},
		{d("a", int32(1), "b", int32(1)), d("a", int32(2)), -1},
	}
	for _, tc := range cases {
		got := cmpIDs(doc(bson.D{{Key: "_id", Value: tc.a}}), doc(bson.D{{Key: "_id", Value: tc.b}}), true, true)
		if cmp.Compare(got, 0) != tc.want {
			t.Errorf("cmp(%v, %v) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
	if cmpIDs(nil, doc(bson.D{{Key: "_id", Value: 1}}), false, true) <= 0 {
		t.Error("an exhausted source side sorts after the destination's")
	}
	if cmpIDs(doc(bson.D{{Key: "_id", Value: 1}}), nil, true, false) >= 0 {
		t.Error("an exhausted destination side sorts after the source's")
	}
}

// idKey, which the live re-checks and sample comparisons key documents by,
// makes one key of what the comparator holds equal (one _id to mongod) and
// two of what it orders apart.
func TestIDKey_OneKeyPerServerID(t *testing.T) {
	two53 := int64(1) << 53
	same := [][]any{
		{int32(1), int64(1), 1.0, dec(t, "1.00")},
		{0.0, math.Copysign(0, -1), dec(t, "-0")},
		{math.NaN(), dec(t, "NaN")},
		{two53, float64(two53)},
		{"ab", bson.Symbol("ab")},
		{d("a", int32(1), "b", bson.A{int64(2)}), d("a", 1.0, "b", bson.A{dec(t, "2")})},
	}
	for _, g := range same {
		for i := range g {
			if a, b := idKey(val(t, g[0])), idKey(val(t, g[i])); a != b {
				t.Errorf("%v and %v: keys %q and %q, want one", g[0], g[i], a, b)
			}
		}
	}
	apart := [][2]any{
		{two53, two53 + 1},
		{0.1, dec(t, "0.1")},
		{"1", int32(1)},
		{d("a", int32(1)), d("b", int32(1))},
		{d("a", "bc"), d("ab", "c")},
		{bson.A{int32(1)}, d("0", int32(1))},
		{bson.DateTime(1), bson.Timestamp{T: 0, I: 1}},
	}
	for _, p := range apart {
		if a, b := idKey(val(t, p[0])), idKey(val(t, p[1])); a == b {
			t.Errorf("%v and %v: one key %q, want two", p[0], p[1], a)
		}
	}
}
