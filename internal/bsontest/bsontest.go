// Package bsontest holds the small BSON helpers the tests of several
// packages share: documents built from bson.D or Extended JSON, and
// Extended JSON for messages.
package bsontest

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Raw is d marshalled.
func Raw(t testing.TB, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MustMarshal is v marshalled.
func MustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Ext is v as relaxed Extended JSON (fmt's form where it has none).
func Ext(v any) string {
	b, err := bson.MarshalExtJSON(v, false, false)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ExtD is relaxed Extended JSON as a document.
func ExtD(t testing.TB, s string) bson.D {
	t.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return d
}

// JS is relaxed Extended JSON as a raw document.
func JS(t testing.TB, s string) bson.Raw {
	t.Helper()
	return Raw(t, ExtD(t, s))
}

// Counted reports whether a test counts an oplog entry as one of the
// writes it made: not a no-op (op "n"), and not the create a MongoDB
// server logs before the first insert into a collection that does not
// exist yet (op "c", o.create), which the test server never logs.
func Counted(entry bson.Raw) bool {
	switch op, _ := entry.Lookup("op").StringValueOK(); op {
	case "n":
		return false
	case "c":
		_, create := entry.Lookup("o", "create").StringValueOK()
		return !create
	}
	return true
}
