package translate

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The in-place reads of the usual shapes (oplog.DocID, oplog.V2Diff, an array diff's
// leading a: true) agree with the walks they shortcut, on valid documents
// and on every truncation and many random corruptions of them.
func TestFastPaths_AgreeWithTheWalk(t *testing.T) {
	m := func(d bson.D) []byte {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	diff := bson.D{{Key: "u", Value: bson.D{{Key: "q", Value: int32(1)}}}, {Key: "sitems", Value: bson.D{{Key: "a", Value: true}, {Key: "u1", Value: "x"}}}}
	seeds := [][]byte{
		m(bson.D{{Key: "_id", Value: int32(7)}}),
		m(bson.D{{Key: "_id", Value: "s"}, {Key: "k", Value: 1}}),
		m(bson.D{{Key: "k", Value: 1}, {Key: "_id", Value: int64(7)}}),
		m(bson.D{{Key: "_id", Value: bson.D{{Key: "a", Value: 1}}}}),
		m(bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: diff}}),
		m(bson.D{{Key: "$v", Value: int64(2)}, {Key: "diff", Value: diff}}),
		m(bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: diff}, {Key: "x", Value: 1}}),
		m(bson.D{{Key: "$v", Value: int32(1)}, {Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}),
		m(bson.D{{Key: "a", Value: true}, {Key: "u1", Value: "x"}}),
		m(bson.D{{Key: "a", Value: false}, {Key: "u1", Value: "x"}}),
		m(bson.D{{Key: "u", Value: bson.D{{Key: "a", Value: true}}}}),
	}
	check := func(doc []byte) {
		t.Helper()
		if got, ok := oplog.DocID(doc); ok {
			want, wok := oplog.LookupTop(doc, "_id")
			if !wok || got.Type != want.Type || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("docID(%x) = %v %x, the walk %v %x %v", doc, got.Type, got.Value, want.Type, want.Value, wok)
			}
		} else if _, wok := oplog.LookupTop(doc, "_id"); wok {
			t.Fatalf("docID(%x) found nothing, the walk an _id", doc)
		}
		if d, ok := oplog.V2Diff(doc); ok {
			s := shapeWalk(doc)
			if s.version != 2 || s.hasID || s.diff.Type != bson.TypeEmbeddedDocument || !bytes.Equal(s.diff.Value, d) {
				t.Fatalf("v2Diff(%x) = %x, the walk %+v", doc, d, s)
			}
		}
		fast := len(doc) >= 9 && doc[4] == byte(bsoncore.TypeBoolean) && doc[5] == 'a' && doc[6] == 0 && doc[7] == 1
		if fast {
			v, ok := oplog.LookupTop(doc, "a")
			if isArr, _ := v.BooleanOK(); !ok || !isArr {
				t.Fatalf("%x: read in place as an array diff, the walk finds no a: true", doc)
			}
		}
	}
	r := rand.New(rand.NewSource(1))
	for _, seed := range seeds {
		check(seed)
		for n := 0; n < len(seed); n++ {
			check(seed[:n])
		}
		for i := 0; i < 2000; i++ {
			doc := append([]byte(nil), seed...)
			for k := 0; k <= r.Intn(3); k++ {
				doc[r.Intn(len(doc))] = byte(r.Intn(256))
			}
			check(doc)
		}
	}
}
