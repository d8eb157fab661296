package workload

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Nums have numeric _ids whose one value is stored as int32, int64 or
// double over time: inserted as one type, updated, replaced and deleted
// through a filter of another type (MongoDB holds them equal), re-inserted
// as a third.

var numTypes = []string{"int32", "int64", "double"}

func typedID(v, t int) any {
	switch t {
	case 0:
		return int32(v)
	case 1:
		return int64(v)
	}
	return float64(v)
}

func (w *Workload) numStep(ctx context.Context) {
	c := w.db.Collection("nums")
	v := w.key()
	t, ok := w.nums[v]
	other := (t + 1 + w.rng.IntN(2)) % 3 // never the stored type
	filter := bson.D{{Key: "_id", Value: typedID(v, other)}}
	if !ok {
		nt := w.rng.IntN(3)
		d := bson.D{{Key: "_id", Value: typedID(v, nt)}, {Key: "v", Value: v}, {Key: "as", Value: numTypes[nt]}}
		if w.note("nums.insert_"+numTypes[nt], must(c.InsertOne(ctx, d))) {
			w.nums[v] = nt
		}
		return
	}
	switch x := w.rng.IntN(10); {
	case x < 3:
		w.note("nums.update_as_"+numTypes[other], must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$inc", Value: bson.D{{Key: "hits", Value: 1}}}}))))
	case x < 5:
		// the stored _id keeps its type; the filter's type differs
		d := bson.D{{Key: "_id", Value: typedID(v, t)}, {Key: "v", Value: v}, {Key: "as", Value: numTypes[t]}, {Key: "replaced", Value: true}}
		w.note("nums.replace_as_"+numTypes[other], must(c.ReplaceOne(ctx, filter, w.stamp(d))))
	default:
		// delete through another type, re-insert as a third
		if !w.note("nums.delete_as_"+numTypes[other], must(c.DeleteOne(ctx, filter))) {
			return
		}
		delete(w.nums, v)
		nt := 3 - t - other
		d := bson.D{{Key: "_id", Value: typedID(v, nt)}, {Key: "v", Value: v}, {Key: "as", Value: numTypes[nt]}}
		if w.note("nums.reinsert_"+numTypes[nt], must(c.InsertOne(ctx, d))) {
			w.nums[v] = nt
		}
	}
}
