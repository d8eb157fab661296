package spool

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// entryTS reads a leading ts in place; every other shape goes through
// LookupErr. Both must agree with LookupErr on what the ts is.
func TestEntryTS_AgreesWithLookup(t *testing.T) {
	ts := bson.Timestamp{T: 1_700_000_123, I: 0x01020304}
	doc := func(d bson.D) bson.Raw {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	cases := []struct {
		name string
		raw  bson.Raw
	}{
		{"ts first", doc(bson.D{{Key: "ts", Value: ts}, {Key: "op", Value: "i"}})},
		{"ts alone", doc(bson.D{{Key: "ts", Value: ts}})},
		{"ts later", doc(bson.D{{Key: "op", Value: "i"}, {Key: "ts", Value: ts}})},
		{"ts first not a timestamp", doc(bson.D{{Key: "ts", Value: int64(5)}, {Key: "op", Value: "i"}})},
		{"tsx first", doc(bson.D{{Key: "tsx", Value: ts}, {Key: "op", Value: "i"}})},
		{"t first", doc(bson.D{{Key: "t", Value: ts}, {Key: "ts", Value: bson.Timestamp{T: 9, I: 9}}})},
		{"two ts", doc(bson.D{{Key: "ts", Value: ts}, {Key: "ts", Value: bson.Timestamp{T: 9, I: 9}}})},
		{"no ts", doc(bson.D{{Key: "op", Value: "n"}})},
		{"empty", doc(bson.D{})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want bson.Timestamp
			v, err := c.raw.LookupErr("ts")
			tt, ii, wantOK := v.TimestampOK()
			if err != nil {
				wantOK = false
			}
			if wantOK {
				want = bson.Timestamp{T: tt, I: ii}
			}
			got, ok := entryTS(c.raw)
			if ok != wantOK || got != want {
				t.Fatalf("entryTS = %v, %v; LookupErr says %v, %v", got, ok, want, wantOK)
			}
		})
	}
}
