package exec

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/spaolacci/murmur3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// rv is v as a raw BSON value.
func rv(t testing.TB, v any) bson.RawValue {
	t.Helper()
	typ, b, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return bson.RawValue{Type: typ, Value: b}
}

func dec(t testing.TB, s string) bson.Decimal128 {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func canonOf(id bson.RawValue) []byte { return appendCanon(nil, id.Type, id.Value) }

// TestPartition_MongoDBEqualIDsOneWorker: _ids that MongoDB compares equal
// are one document; they must reach one worker, or a delete and a
// re-insert of the document in one batch could be reordered.
func TestPartition_MongoDBEqualIDsOneWorker(t *testing.T) {
	const p53, p60 = int64(1) << 53, int64(1) << 60
	otherNaN := math.Float64frombits(0x7ff0000000000abc)
	cases := []struct {
		name string
		ids  []any
	}{
		{"one", []any{int32(1), int64(1), 1.0, dec(t, "1"), dec(t, "1.0"), dec(t, "10E-1"), dec(t, "0.01E2")}},
		{"minus one", []any{int32(-1), int64(-1), -1.0, dec(t, "-1.000")}},
		{"zero and minus zero", []any{int32(0), int64(0), 0.0, math.Copysign(0, -1), dec(t, "0"), dec(t, "-0"), dec(t, "0E+10"), dec(t, "-0.000")}},
		{"NaN", []any{math.NaN(), otherNaN, dec(t, "NaN")}},
		{"infinity", []any{math.Inf(1), dec(t, "Infinity")}},
		{"minus infinity", []any{math.Inf(-1), dec(t, "-Infinity")}},
		{"int32 limits", []any{int32(math.MaxInt32), int64(math.MaxInt32), float64(math.MaxInt32), dec(t, "2147483647")}},
		{"2^53", []any{p53, float64(p53), dec(t, "9007199254740992")}},
		{"2^53+1, no double", []any{p53 + 1, dec(t, "9007199254740993"), dec(t, "9007199254740993.000")}},
		{"2^60", []any{p60, float64(p60), dec(t, "1152921504606846976")}},
		{"int64 max", []any{int64(math.MaxInt64), dec(t, "9223372036854775807")}},
		{"int64 min", []any{int64(math.MinInt64), -math.Exp2(63), dec(t, "-9223372036854775808")}},
		{"a half", []any{0.5, dec(t, "0.5"), dec(t, "0.50")}},
		{"1e300", []any{1e300, dec(t, "1.000000000000000052504760255204420E+300")}},
		// MongoDB compares a decimal with a double rounded to 34 digits.
		{"0.1 double", []any{0.1, dec(t, "0.1000000000000000055511151231257827")}},
		{"big decimal", []any{dec(t, "1E+400"), dec(t, "10E+399")}},
		{"tiny decimal", []any{dec(t, "1E-400"), dec(t, "0.10E-399")}},
		{"symbol and string", []any{"abc", bson.Symbol("abc")}},
		{"document of numbers", []any{
			bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: "x"}},
			bson.D{{Key: "a", Value: 1.0}, {Key: "b", Value: bson.Symbol("x")}},
			bson.D{{Key: "a", Value: dec(t, "1.0")}, {Key: "b", Value: "x"}},
		}},
		{"nested documents and arrays", []any{
			bson.D{{Key: "k", Value: bson.D{{Key: "n", Value: bson.A{int32(2), int64(3), bson.D{{Key: "z", Value: int32(0)}}}}}}},
			bson.D{{Key: "k", Value: bson.D{{Key: "n", Value: bson.A{2.0, dec(t, "3"), bson.D{{Key: "z", Value: math.Copysign(0, -1)}}}}}}},
		}},
		{"code with scope", []any{
			bson.CodeWithScope{Code: "f", Scope: bson.D{{Key: "x", Value: int32(1)}}},
			bson.CodeWithScope{Code: "f", Scope: bson.D{{Key: "x", Value: 1.0}}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first := rv(t, c.ids[0])
			for _, id := range c.ids[1:] {
				other := rv(t, id)
				if !bytes.Equal(canonOf(first), canonOf(other)) {
					t.Errorf("%s (%s) and %s (%s) are one _id for MongoDB but hash apart", first, first.Type, other, other.Type)
					continue
				}
				for n := 1; n <= 64; n++ {
					if Partition("db.c", first, n) != Partition("db.c", other, n) {
						t.Fatalf("%d workers: %s and %s on different workers", n, first, other)
					}
				}
			}
		})
	}
}

// TestPartition_IntegersAcrossTypes: an integer of any magnitude has one
// form as int64, as decimal128, and as a double when one equals it.
func TestPartition_IntegersAcrossTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 7))
	for i := 0; i < 5000; i++ {
		n := rng.Int64() >> rng.IntN(64)
		if rng.IntN(2) == 0 {
			n = -n
		}
		long := canonOf(rv(t, n))
		if d := canonOf(rv(t, dec(t, strconv.FormatInt(n, 10)))); !bytes.Equal(long, d) {
			t.Fatalf("int64 %d and its decimal128 hash apart", n)
		}
		if f := float64(n); f < math.Exp2(63) && int64(f) == n && !bytes.Equal(long, canonOf(rv(t, f))) {
			t.Fatalf("int64 %d and the double %v hash apart", n, f)
		}
		if n == int64(int32(n)) && !bytes.Equal(long, canonOf(rv(t, int32(n)))) {
			t.Fatalf("int64 %d and int32 hash apart", n)
		}
	}
}

// TestPartition_DistinctIDsKeepDistinctForms: values MongoDB holds apart
// keep apart forms (they could still share a worker; the form is what the
// hash sees).
func TestPartition_DistinctIDsKeepDistinctForms(t *testing.T) {
	const p53 = int64(1) << 53
	cases := []struct {
		name string
		a, b any
	}{
		{"2^53+1 and its nearest double", p53 + 1, float64(p53)},
		{"int64 max and 2^63", int64(math.MaxInt64), math.Exp2(63)},
		{"2^53+1 and 2^53+2", p53 + 1, p53 + 2},
		{"decimal 0.1 and double 0.1", dec(t, "0.1"), 0.1},
		{"decimal 1.1 and 1.10000001", dec(t, "1.1"), dec(t, "1.10000001")},
		{"number and string", int32(1), "1"},
		{"field order", bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, bson.D{{Key: "b", Value: 2}, {Key: "a", Value: 1}}},
		{"field names", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "b", Value: 1}}},
		{"document and array", bson.D{{Key: "0", Value: 1}}, bson.A{1}},
		{"null and undefined", bson.Null{}, bson.Undefined{}},
		{"true and false", true, false},
		{"string and binary", "ab", bson.Binary{Data: []byte("ab")}},
		{"1 and -1", int32(1), int32(-1)},
		{"date and timestamp", bson.DateTime(5), bson.Timestamp{T: 0, I: 5}},
	}
	for _, c := range cases {
		a, b := rv(t, c.a), rv(t, c.b)
		if bytes.Equal(canonOf(a), canonOf(b)) {
			t.Errorf("%s: %s and %s have one canonical form", c.name, a, b)
		}
	}
}

func TestPartition_SameDocumentSameWorker(t *testing.T) {
	counts := make([]int, 8)
	for i := 0; i < 8000; i++ {
		id := bson.RawValue{Type: bson.TypeInt32, Value: bsoncore.AppendInt32(nil, int32(i))}
		p := Partition("db.c", id, 8)
		if p != Partition("db.c", id, 8) {
			t.Fatal("partition is not deterministic")
		}
		counts[p]++
	}
	for w, n := range counts {
		if n < 700 || n > 1300 {
			t.Errorf("worker %d got %d of 8000 documents: poor spread %v", w, n, counts)
		}
	}
	if Partition("a.b", rv(t, int32(1)), 1<<20) == Partition("a.c", rv(t, int32(1)), 1<<20) {
		t.Error("the namespace does not take part in the hash")
	}
}

// TestPartition_CommonIDsDoNotAllocate: the hot path (ObjectId, string,
// integer and double _ids) reuses the partitioner's buffer.
func TestPartition_CommonIDsDoNotAllocate(t *testing.T) {
	var p partitioner
	for _, v := range []any{bson.NewObjectID(), "order-12345", int32(7), int64(1) << 40, int64(1)<<53 + 1, 2.5} {
		id := rv(t, v)
		p.of("db.c", id, 8) // grows the buffer once
		if n := testing.AllocsPerRun(100, func() { p.of("db.c", id, 8) }); n != 0 {
			t.Errorf("%s _id: %v allocations per hash", id.Type, n)
		}
	}
}

// TestMurmur32_IsMurmur3: the in-place hash is the library's, for every
// length around the 4-byte blocks and random contents: workers keep the
// documents they had.
func TestMurmur32_IsMurmur3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		for i := 0; i < 50; i++ {
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			h := murmur3.New32() // its Sum32 trips checkptr under -race
			h.Write(b)
			if got, want := murmur32(b), h.Sum32(); got != want {
				t.Fatalf("%x: %08x, murmur3 %08x", b, got, want)
			}
		}
	}
}
