// Package bsonx holds small BSON helpers shared by several stages.
package bsonx

import (
	"encoding/binary"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TSBytes encodes a timestamp as 8 big-endian bytes (T<<32 | I), so byte
// order is ts order.
func TSBytes(ts bson.Timestamp) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ts.T)<<32|uint64(ts.I))
	return b[:]
}

// BytesTS decodes TSBytes; anything but 8 bytes is the zero timestamp.
func BytesTS(b []byte) bson.Timestamp {
	if len(b) != 8 {
		return bson.Timestamp{}
	}
	u := binary.BigEndian.Uint64(b)
	return bson.Timestamp{T: uint32(u >> 32), I: uint32(u)}
}

// Canonical renders a document as canonical Extended JSON (BSON types
// kept: int32 1 and int64 1 differ) with its keys sorted at every level,
// so two documents that differ only in field order render the same.
func Canonical(doc bson.Raw) string {
	var v bson.D
	if err := bson.Unmarshal(doc, &v); err != nil {
		return "invalid: " + err.Error()
	}
	return CanonicalD(v, true)
}

// CanonicalD renders d as canonical Extended JSON, keys sorted when sorted.
func CanonicalD(d bson.D, sorted bool) string {
	if sorted {
		d = sortKeys(d)
	}
	out, _ := bson.MarshalExtJSON(d, true, false)
	return string(out)
}

func sortKeys(d bson.D) bson.D {
	out := append(bson.D(nil), d...)
	for i := range out {
		out[i].Value = sortValue(out[i].Value)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func sortValue(v any) any {
	switch x := v.(type) {
	case bson.D:
		return sortKeys(x)
	case bson.A:
		y := make(bson.A, len(x))
		for i := range x {
			y[i] = sortValue(x[i])
		}
		return y
	}
	return v
}

// Number is a numeric BSON value (int32, int64, double) as a float64, for
// comparing numbers by value across types; ok is false for other types.
func Number(v bson.RawValue) (float64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32()), true
	case bson.TypeInt64:
		return float64(v.Int64()), true
	case bson.TypeDouble:
		return v.Double(), true
	}
	return 0, false
}
