package oplog

import (
	"bytes"
	"math/rand"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// refNextElement is nextElement as bsoncore reads an element: the
// reference the fast path must agree with.
func refNextElement(rest []byte) (key []byte, v bsoncore.Value, tail []byte, ok bool) {
	if len(rest) < 2 {
		return nil, v, nil, false
	}
	end := bytes.IndexByte(rest[1:], 0)
	if end < 0 {
		return nil, v, nil, false
	}
	defer func() {
		if recover() != nil { // bsoncore panics on a length that overflows int32
			key, v, tail, ok = nil, bsoncore.Value{}, nil, false
		}
	}()
	v, tail, ok = bsoncore.ReadValue(rest[2+end:], bsoncore.Type(rest[0]))
	return rest[1 : 1+end], v, tail, ok
}

func TestNextElement_AgreesWithBsoncore(t *testing.T) {
	doc, err := bson.Marshal(bson.D{
		{Key: "d", Value: 1.5}, {Key: "s", Value: "str"}, {Key: "o", Value: bson.D{{Key: "x", Value: int32(1)}}},
		{Key: "a", Value: bson.A{"x", int64(2)}}, {Key: "b", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
		{Key: "u", Value: bson.Undefined{}}, {Key: "id", Value: bson.NewObjectID()}, {Key: "t", Value: true},
		{Key: "dt", Value: bson.DateTime(5)}, {Key: "n", Value: nil}, {Key: "re", Value: bson.Regex{Pattern: "a.b", Options: "i"}},
		{Key: "ptr", Value: bson.DBPointer{DB: "db", Pointer: bson.NewObjectID()}}, {Key: "js", Value: bson.JavaScript("f()")},
		{Key: "sym", Value: bson.Symbol("sym")}, {Key: "cws", Value: bson.CodeWithScope{Code: "g()", Scope: bson.D{{Key: "y", Value: int32(2)}}}},
		{Key: "i", Value: int32(7)}, {Key: "ts", Value: bson.Timestamp{T: 1, I: 2}}, {Key: "l", Value: int64(9)},
		{Key: "dec", Value: bson.NewDecimal128(1, 2)}, {Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
		{Key: "a_key_longer_than_sixteen_bytes_for_the_scan", Value: "v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(rest []byte) {
		t.Helper()
		k1, v1, t1, ok1 := nextElement(rest)
		k2, v2, t2, ok2 := refNextElement(rest)
		if ok1 != ok2 || ok1 && (!bytes.Equal(k1, k2) || v1.Type != v2.Type || !bytes.Equal(v1.Data, v2.Data) || !bytes.Equal(t1, t2)) {
			t.Fatalf("%x: got %q %v %x %x %v, bsoncore %q %v %x %x %v", rest, k1, v1.Type, v1.Data, t1, ok1, k2, v2.Type, v2.Data, t2, ok2)
		}
	}
	elems := doc[4 : len(doc)-1]
	for rest := elems; len(rest) > 0; {
		check(rest)
		_, _, tail, ok := nextElement(rest)
		if !ok {
			t.Fatalf("valid element rejected at %x", rest)
		}
		rest = tail
	}
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, len(elems))
	for i := 0; i < 200000; i++ {
		copy(buf, elems)
		b := buf[:rng.Intn(len(buf)+1)]
		for n := rng.Intn(4); n > 0 && len(b) > 0; n-- {
			j := rng.Intn(len(b))
			switch rng.Intn(4) {
			case 0:
				b[j] = byte(rng.Intn(256))
			case 1:
				b[j] = 0
			case 2:
				b[j] = 0xff
			default:
				b[j] = byte(rng.Intn(0x14))
			}
		}
		for rest := b[rng.Intn(len(b)+1):]; ; {
			check(rest)
			_, _, tail, ok := nextElement(rest)
			if !ok || len(tail) == 0 {
				break
			}
			rest = tail
		}
	}
}
