package applier

// What the test server does differently from MongoDB that the model test
// must keep out of its sequences: FerretDB v1.24 skips a write whose new
// value it holds equal to the old one, and its equality is looser than
// MongoDB's byte comparison. Seen here:
//   - {$set: {b: {y: 0}}} over b: {x: 0} changes nothing (field names are
//     not compared), in a replacement too;
//   - a replacement that changes only a number's type (1.0 -> int64 1)
//     changes nothing ($set does change it).
// MongoDB writes both. No generated entry makes such a change; a later
// state met on replay still can, which the applier must survive.

import (
	"context"
	"strconv"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ignoresLooseEqualWrites probes the server for the two cases above.
func ignoresLooseEqualWrites(t *testing.T, client *mongo.Client) bool {
	ctx := context.Background()
	db := client.Database("model_probe")
	defer db.Drop(ctx)
	c := db.Collection("c")
	if _, err := c.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1.0}}, bson.D{{Key: "_id", Value: 2}, {Key: "b", Value: bson.D{{Key: "x", Value: 0}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "b", Value: bson.D{{Key: "y", Value: 0}}}}}}); err != nil {
		t.Fatal(err)
	}
	var one, two bson.Raw
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&one); err != nil {
		t.Fatal(err)
	}
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: 2}}).Decode(&two); err != nil {
		t.Fatal(err)
	}
	_, movedY := two.Lookup("b").Document().LookupErr("y")
	return one.Lookup("n").Type != bson.TypeInt64 || movedY != nil
}

// looseChange reports whether old -> new changes some value, at any level,
// into one loosely equal to it.
func looseChange(old, new any) bool {
	if sameBSON(old, new) {
		return false
	}
	if looseKey(old) == looseKey(new) {
		return true
	}
	switch o := old.(type) {
	case bson.D:
		if n, ok := new.(bson.D); ok {
			for _, e := range n {
				if v, ok := lookup(o, e.Key); ok && looseChange(v, e.Value) {
					return true
				}
			}
		}
	case bson.A:
		if n, ok := new.(bson.A); ok {
			for i := 0; i < len(o) && i < len(n); i++ {
				if looseChange(o[i], n[i]) {
					return true
				}
			}
		}
	}
	return false
}

// looseKey renders v with field names replaced by positions and numbers
// as doubles.
func looseKey(v any) string {
	var conv func(any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case bson.D:
			y := make(bson.D, len(x))
			for i, e := range x {
				y[i] = bson.E{Key: strconv.Itoa(i), Value: conv(e.Value)}
			}
			return y
		case bson.A:
			y := make(bson.A, len(x))
			for i, e := range x {
				y[i] = conv(e)
			}
			return y
		case int32:
			return float64(x)
		case int64:
			return float64(x)
		}
		return v
	}
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: conv(v)}}, true, false)
	if err != nil {
		panic(err)
	}
	return string(b)
}
