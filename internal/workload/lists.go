package workload

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Lists hold an array that grows and shrinks, at the top level (items) and
// one level down (meta.tags).

func (w *Workload) listStep(ctx context.Context) {
	c := w.db.Collection("lists")
	id := w.key()
	filter := bson.D{{Key: "_id", Value: id}}
	n, ok := w.lists[id]
	if !ok {
		items := bson.A{}
		for range w.rng.IntN(4) {
			items = append(items, w.scalar())
		}
		d := bson.D{{Key: "_id", Value: id}, {Key: "items", Value: items}, {Key: "meta", Value: bson.D{{Key: "tags", Value: bson.A{"t"}}}}}
		if w.note("lists.insert", must(c.InsertOne(ctx, d))) {
			w.lists[id] = len(items)
		}
		return
	}
	switch x := w.rng.IntN(10); {
	case x < 3:
		if w.note("lists.push", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$push", Value: bson.D{{Key: "items", Value: w.scalar()}}}})))) {
			w.lists[id] = n + 1
		}
	case x < 5 && n > 0:
		end := []int{1, -1}[w.rng.IntN(2)] // last or first
		if w.note("lists.pop", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$pop", Value: bson.D{{Key: "items", Value: end}}}})))) {
			w.lists[id] = n - 1
		}
	case x < 7:
		// the whole array, shorter or longer
		items := bson.A{}
		for range w.rng.IntN(6) {
			items = append(items, w.scalar())
		}
		if w.note("lists.set_array", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$set", Value: bson.D{{Key: "items", Value: items}}}})))) {
			w.lists[id] = len(items)
		}
	case x < 8 && n > 0:
		path := fmt.Sprintf("items.%d", w.rng.IntN(n))
		w.note("lists.set_element", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$set", Value: bson.D{{Key: path, Value: w.scalar()}}}}))))
	case x < 9:
		op := "$push"
		if w.rng.IntN(2) == 0 {
			op = "$pop"
		}
		var v any = w.scalar()
		if op == "$pop" {
			v = 1
		}
		w.note("lists.nested_"+op[1:], must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: op, Value: bson.D{{Key: "meta.tags", Value: v}}}}))))
	default:
		if w.note("lists.delete", must(c.DeleteOne(ctx, filter))) {
			delete(w.lists, id)
		}
	}
}
