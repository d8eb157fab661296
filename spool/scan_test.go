package spool

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// scanCorpus holds documents with every BSON type at the top level, and ts
// first, later, missing, of another type, and twice.
func scanCorpus(t testing.TB) []bson.Raw {
	ts := bson.Timestamp{T: 1_700_000_000, I: 7}
	oid := bson.NewObjectID()
	dec, _ := bson.ParseDecimal128("1.5")
	all := bson.D{
		{Key: "double", Value: 1.5},
		{Key: "string", Value: "hello"},
		{Key: "empty", Value: ""},
		{Key: "doc", Value: bson.D{{Key: "a", Value: int32(1)}}},
		{Key: "emptydoc", Value: bson.D{}},
		{Key: "array", Value: bson.A{int32(1), "two"}},
		{Key: "binary", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
		{Key: "undefined", Value: bson.Undefined{}},
		{Key: "oid", Value: oid},
		{Key: "bool", Value: true},
		{Key: "date", Value: bson.DateTime(1_700_000_000_000)},
		{Key: "null", Value: nil},
		{Key: "regex", Value: bson.Regex{Pattern: "^a.*b$", Options: "i"}},
		{Key: "dbptr", Value: bson.DBPointer{DB: "db.coll", Pointer: oid}},
		{Key: "js", Value: bson.JavaScript("function() {}")},
		{Key: "symbol", Value: bson.Symbol("sym")},
		{Key: "cws", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "x", Value: int32(1)}}}},
		{Key: "int32", Value: int32(-3)},
		{Key: "int64", Value: int64(1) << 40},
		{Key: "dec", Value: dec},
		{Key: "min", Value: bson.MinKey{}},
		{Key: "max", Value: bson.MaxKey{}},
		{Key: "", Value: int32(0)},
	}
	docs := []bson.D{
		append(bson.D{{Key: "ts", Value: ts}}, all...),
		append(append(bson.D{}, all...), bson.E{Key: "ts", Value: ts}),
		all,
		{{Key: "ts", Value: "not a timestamp"}, {Key: "op", Value: "n"}},
		{{Key: "ts", Value: ts}, {Key: "ts", Value: bson.Timestamp{T: 9, I: 9}}},
		{{Key: "t", Value: ts}, {Key: "tsx", Value: ts}, {Key: "ts", Value: ts}},
		{{Key: "ts", Value: ts}},
		{},
	}
	var out []bson.Raw
	for _, d := range docs {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return append(out, makeBatch(1, 3, 160)...)
}

// checkScan fails when scanEntry accepts what the driver refuses, or finds
// another ts than LookupErr does.
func checkScan(t testing.TB, raw []byte) (accepted bool) {
	ts, hasTS, valid := scanEntry(raw)
	if !valid {
		return false
	}
	if err := validate(raw); err != nil {
		t.Fatalf("scanEntry accepts what Validate refuses (%v): %x", err, raw)
	}
	wantTS, wantOK := entryTS(raw)
	if hasTS != wantOK || (wantOK && ts != wantTS) {
		t.Fatalf("scanEntry ts %v %v, LookupErr %v %v: %x", ts, hasTS, wantTS, wantOK, raw)
	}
	return true
}

func TestScanEntry_AcceptsPlainDocuments(t *testing.T) {
	for i, raw := range scanCorpus(t) {
		if !checkScan(t, raw) {
			t.Fatalf("document %d not accepted: it takes the slow path", i)
		}
	}
}

// Random damage to every corpus document: whatever scanEntry accepts, the
// driver accepts too, with the same ts.
func TestScanEntry_NeverLaxerThanValidate(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	edges := []int32{-1, 0, 1, 3, 4, 5, 8, 12, 16, math.MaxInt32, math.MaxInt32 - 4, math.MinInt32}
	accepted, tried := 0, 0
	for _, orig := range scanCorpus(t) {
		for n := 0; n < 3000; n++ {
			raw := append([]byte(nil), orig...)
			for m := 1 + rng.Intn(2); m > 0 && len(raw) > 0; m-- {
				switch rng.Intn(5) {
				case 0: // one byte, any value
					raw[rng.Intn(len(raw))] = byte(rng.Intn(256))
				case 1: // a type byte or a terminator
					raw[rng.Intn(len(raw))] = []byte{0, 0x02, 0x03, 0x04, 0x05, 0x0B, 0x0C, 0x0F, 0x11, 0x13, 0x7F, 0xFF}[rng.Intn(12)]
				case 2: // an edge value as a length, anywhere
					if len(raw) >= 4 {
						o := rng.Intn(len(raw) - 3)
						binary.LittleEndian.PutUint32(raw[o:], uint32(edges[rng.Intn(len(edges))]))
					}
				case 3: // cut or extend
					if rng.Intn(2) == 0 {
						raw = raw[:rng.Intn(len(raw)+1)]
					} else {
						raw = append(raw, make([]byte, 1+rng.Intn(8))...)
					}
				case 4: // make the declared length match the (changed) slice
					if len(raw) >= 4 {
						binary.LittleEndian.PutUint32(raw, uint32(len(raw)))
					}
				}
			}
			tried++
			if checkScan(t, raw) {
				accepted++
			}
		}
	}
	t.Logf("%d damaged documents, %d accepted by scanEntry (and by Validate)", tried, accepted)
}

func FuzzScanEntry(f *testing.F) {
	for _, raw := range scanCorpus(f) {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkScan(t, raw) })
}
