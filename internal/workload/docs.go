package workload

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The kind of value a field of a docs document holds, so that dotted
// writes are ones the source accepts.
const (
	kMissing = iota
	kObject
	kScalar
	kNull
	kArray
)

type docState struct {
	exists bool
	kind   map[string]int // "a", "b" -> kind
}

var docFields = []string{"a", "b"}

// value returns a random value of a random kind (at most two levels deep:
// the test server can leave a deeper dotted write undone).
func (w *Workload) value() (any, int) {
	switch w.rng.IntN(4) {
	case 0:
		return bson.D{{Key: "x", Value: w.scalar()}, {Key: "y", Value: w.scalar()}}, kObject
	case 1:
		return w.scalar(), kScalar
	case 2:
		return nil, kNull
	}
	return bson.A{w.scalar(), w.scalar()}, kArray
}

// scalar is a small number as int32, int64 or double, or a string.
func (w *Workload) scalar() any {
	n := w.rng.IntN(3)
	switch w.rng.IntN(4) {
	case 0:
		return int32(n)
	case 1:
		return int64(n)
	case 2:
		return float64(n)
	}
	return fmt.Sprint("s", n)
}

func (w *Workload) newDoc(id int) (bson.D, docState) {
	d := bson.D{{Key: "_id", Value: id}}
	st := docState{exists: true, kind: map[string]int{}}
	for _, f := range docFields {
		if w.rng.IntN(4) == 0 {
			continue
		}
		v, k := w.value()
		d = append(d, bson.E{Key: f, Value: v})
		st.kind[f] = k
	}
	return append(d, bson.E{Key: "n", Value: w.scalar()}), st
}

func (w *Workload) docStep(ctx context.Context) {
	c := w.db.Collection("docs")
	id := w.key()
	st := w.docs[id]
	filter := bson.D{{Key: "_id", Value: id}}
	if !st.exists {
		d, nst := w.newDoc(id)
		if w.note("docs.insert", must(c.InsertOne(ctx, d))) {
			w.docs[id] = nst
		}
		return
	}
	f := docFields[w.rng.IntN(len(docFields))]
	sub := []string{"x", "y", "z"}[w.rng.IntN(3)]
	switch x := w.rng.IntN(12); {
	case x < 4 && (st.kind[f] == kObject || st.kind[f] == kMissing):
		// {$set: {"a.x": v}}: over a scalar later in the window this path
		// is not viable.
		set := bson.D{{Key: f + "." + sub, Value: w.scalar()}}
		if w.note("docs.set_dotted", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$set", Value: set}})))) {
			st.kind[f] = kObject
		}
	case x < 7:
		v, k := w.value()
		if w.note("docs.set_type", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$set", Value: bson.D{{Key: f, Value: v}}}})))) {
			st.kind[f] = k
		}
	case x < 8 && st.kind[f] == kObject:
		w.note("docs.unset_dotted", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$unset", Value: bson.D{{Key: f + "." + sub, Value: ""}}}}))))
	case x < 9:
		if w.note("docs.unset", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$unset", Value: bson.D{{Key: f, Value: ""}}}})))) {
			st.kind[f] = kMissing
		}
	case x < 10:
		d, nst := w.newDoc(id)
		if w.note("docs.replace", must(c.ReplaceOne(ctx, filter, w.stamp(d)))) {
			w.docs[id] = nst
		}
	case x < 11:
		// the same value as another numeric type
		w.note("docs.number_type", must(c.UpdateOne(ctx, filter, w.stamp(bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: w.scalar()}}}}))))
	default:
		if w.note("docs.delete", must(c.DeleteOne(ctx, filter))) {
			w.docs[id] = docState{}
		}
	}
}

// must drops a write's result, keeping its error.
func must[T any](_ T, err error) error { return err }
