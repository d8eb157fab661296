package applier

// Random documents and random changes between them, logged the way MongoDB
// logs them, for the model-based test (model_test.go).
//
// Shape, kept within what the test server stores and updates correctly
// (FerretDB, tools/testmongod): at most two levels of nesting
// (a top-level field may hold an object whose fields hold scalars or arrays
// of scalars), arrays hold scalars only (no nested arrays, no objects in
// arrays), field names are plain letters. So no dotted $set path sets a
// document deeper than two levels ("a.x" at most), which the test server
// can leave undone.

import (
	"fmt"
	"math/rand"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

var (
	modelTop = []string{"a", "b", "c", "d", "e"}
	modelSub = []string{"x", "y", "z"}
)

type modelGen struct {
	r *rand.Rand
	// looseWrites: the server ignores writes that change a value into one
	// loosely equal to it (see ignoresLooseEqualWrites); none is generated.
	looseWrites bool
}

// scalar favours small numbers of one value in three types, so that a
// later entry often changes only the type (int32 1 -> int64 1 -> 1.0).
func (g *modelGen) scalar() any {
	n := g.r.Intn(3)
	switch g.r.Intn(8) {
	case 0, 1:
		return int32(n)
	case 2:
		return int64(n)
	case 3:
		return float64(n)
	case 4:
		return float64(n) + 0.5
	case 5:
		return "s" + strconv.Itoa(n)
	case 6:
		return n == 0
	}
	return nil
}

func (g *modelGen) array() bson.A {
	a := make(bson.A, g.r.Intn(5))
	for i := range a {
		a[i] = g.scalar()
	}
	return a
}

// value is a field value at depth 1 (top level) or 2 (inside an object).
func (g *modelGen) value(depth int) any {
	switch x := g.r.Intn(10); {
	case x < 4:
		return g.scalar()
	case x < 7 && depth == 1:
		return g.object()
	case x < 7:
		return g.scalar()
	}
	return g.array()
}

// object never returns a nil bson.D: that marshals as null, not as {}.
func (g *modelGen) object() bson.D {
	d := bson.D{}
	for _, i := range g.r.Perm(len(modelSub))[:g.r.Intn(len(modelSub)+1)] {
		d = append(d, bson.E{Key: modelSub[i], Value: g.value(2)})
	}
	return d
}

func (g *modelGen) doc(id any) bson.D {
	d := bson.D{{Key: "_id", Value: id}}
	for _, i := range g.r.Perm(len(modelTop))[:1+g.r.Intn(len(modelTop))] {
		d = append(d, bson.E{Key: modelTop[i], Value: g.value(1)})
	}
	return d
}

// mutate changes pre in place of a user's update: type changes (object <->
// scalar <-> null <-> array, int32 <-> int64 <-> double), fields added and
// removed, objects changed inside, arrays grown, shrunk and changed.
func (g *modelGen) mutate(pre bson.D) bson.D {
	d := deepCopy(pre).(bson.D)
	for n := 1 + g.r.Intn(3); n > 0; n-- {
		f := modelTop[g.r.Intn(len(modelTop))]
		i := mIndex(d, f)
		if i < 0 {
			d = append(d, bson.E{Key: f, Value: g.value(1)})
			continue
		}
		switch v := d[i].Value.(type) {
		case bson.D:
			if g.r.Intn(3) > 0 {
				d[i].Value = g.mutateObject(v)
				continue
			}
		case bson.A:
			if g.r.Intn(3) > 0 {
				d[i].Value = g.mutateArray(v)
				continue
			}
		case int32, int64, float64:
			if g.r.Intn(2) == 0 {
				d[i].Value = otherNumberType(g.r, v)
				continue
			}
		}
		if g.r.Intn(4) == 0 {
			d = append(d[:i], d[i+1:]...)
		} else {
			d[i].Value = g.value(1)
		}
	}
	return d
}

func (g *modelGen) mutateObject(o bson.D) bson.D {
	f := modelSub[g.r.Intn(len(modelSub))]
	i := mIndex(o, f)
	switch {
	case i < 0:
		return append(o, bson.E{Key: f, Value: g.value(2)})
	case g.r.Intn(3) == 0:
		return append(o[:i], o[i+1:]...)
	}
	if a, ok := o[i].Value.(bson.A); ok && g.r.Intn(2) == 0 {
		o[i].Value = g.mutateArray(a)
	} else {
		o[i].Value = g.value(2)
	}
	return o
}

func (g *modelGen) mutateArray(a bson.A) bson.A {
	switch x := g.r.Intn(3); {
	case x == 0 || len(a) == 0: // grow ($push)
		for n := 1 + g.r.Intn(2); n > 0; n-- {
			a = append(a, g.scalar())
		}
	case x == 1: // shrink ($pop, $pull)
		a = a[:g.r.Intn(len(a))]
	default:
		a[g.r.Intn(len(a))] = g.scalar()
	}
	return a
}

func otherNumberType(r *rand.Rand, v any) any {
	var f float64
	switch x := v.(type) {
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case float64:
		f = x
	}
	if f != float64(int64(f)) {
		return int32(f)
	}
	switch r.Intn(3) {
	case 0:
		if _, ok := v.(int32); !ok {
			return int32(f)
		}
		return int64(f)
	case 1:
		if _, ok := v.(int64); !ok {
			return int64(f)
		}
		return f
	}
	if _, ok := v.(float64); !ok {
		return f
	}
	return int32(f)
}

// v2Diff is the $v:2 diff mongod's calculator logs for pre -> post: a
// changed scalar or a type change is u, a new field i, a removed field d,
// an object or array changed in place s<field> (or, as mongod does when the
// sub-diff would not be smaller, u with the whole value).
func (g *modelGen) v2Diff(pre, post bson.D) bson.D {
	var del, upd, ins, subs bson.D
	for _, e := range pre {
		if mIndex(post, e.Key) < 0 {
			del = append(del, bson.E{Key: e.Key, Value: false})
		}
	}
	for _, e := range post {
		i := mIndex(pre, e.Key)
		if i < 0 {
			ins = append(ins, e)
			continue
		}
		old := pre[i].Value
		if sameBSON(old, e.Value) {
			continue
		}
		if g.r.Intn(5) > 0 {
			if od, ok := old.(bson.D); ok {
				if nd, ok := e.Value.(bson.D); ok {
					if sub := g.v2Diff(od, nd); len(sub) > 0 { // empty: only the order changed
						subs = append(subs, bson.E{Key: "s" + e.Key, Value: sub})
						continue
					}
				}
			}
			if oa, ok := old.(bson.A); ok {
				if na, ok := e.Value.(bson.A); ok {
					subs = append(subs, bson.E{Key: "s" + e.Key, Value: arrayDiff(oa, na)})
					continue
				}
			}
		}
		upd = append(upd, e)
	}
	var diff bson.D
	for _, s := range []struct {
		k string
		v bson.D
	}{{"d", del}, {"u", upd}, {"i", ins}} {
		if len(s.v) > 0 {
			diff = append(diff, bson.E{Key: s.k, Value: s.v})
		}
	}
	return append(diff, subs...)
}

func arrayDiff(pre, post bson.A) bson.D {
	d := bson.D{{Key: "a", Value: true}}
	if len(post) < len(pre) {
		d = append(d, bson.E{Key: "l", Value: int32(len(post))})
	}
	for i, v := range post {
		if i >= len(pre) || !sameBSON(pre[i], v) {
			d = append(d, bson.E{Key: "u" + strconv.Itoa(i), Value: v})
		}
	}
	return d
}

// v1Mods picks a $v:1 modifier update that changes pre, as MongoDB 3.6-4.4
// logs it: $set of top-level fields and of "f.g" paths into an existing
// object (a path through a missing field is logged as the object it
// created), $unset of fields and of "f.g" paths. One op per top-level field.
func (g *modelGen) v1Mods(pre bson.D) bson.D {
	for {
		var set, unset bson.D
		for _, fi := range g.r.Perm(len(modelTop))[:1+g.r.Intn(3)] {
			f := modelTop[fi]
			cur, has := lookup(pre, f)
			obj, isObj := cur.(bson.D)
			sub := modelSub[g.r.Intn(len(modelSub))]
			switch x := g.r.Intn(10); {
			case x < 4 && isObj:
				set = append(set, bson.E{Key: f + "." + sub, Value: g.value(2)})
			case x < 4 && !has:
				set = append(set, bson.E{Key: f, Value: bson.D{{Key: sub, Value: g.value(2)}}})
			case x < 6 && isObj && mIndex(obj, sub) >= 0:
				unset = append(unset, bson.E{Key: f + "." + sub, Value: true})
			case x < 7 && has:
				unset = append(unset, bson.E{Key: f, Value: true})
			case has && isNumber(cur) && x < 8:
				set = append(set, bson.E{Key: f, Value: otherNumberType(g.r, cur)})
			default:
				set = append(set, bson.E{Key: f, Value: g.value(1)})
			}
		}
		// mongod logs only what changed: drop the ops that did not.
		var keptSet, keptUnset bson.D
		for _, e := range set {
			if !sameBSON(refV1(pre, bson.D{{Key: "$set", Value: bson.D{e}}}), pre) {
				keptSet = append(keptSet, e)
			}
		}
		for _, e := range unset {
			if !sameBSON(refV1(pre, bson.D{{Key: "$unset", Value: bson.D{e}}}), pre) {
				keptUnset = append(keptUnset, e)
			}
		}
		o := bson.D{{Key: "$v", Value: int32(1)}}
		if len(keptSet) > 0 {
			o = append(o, bson.E{Key: "$set", Value: keptSet})
		}
		if len(keptUnset) > 0 {
			o = append(o, bson.E{Key: "$unset", Value: keptUnset})
		}
		if len(o) > 1 {
			return o
		}
	}
}

func isNumber(v any) bool {
	switch v.(type) {
	case int32, int64, float64:
		return true
	}
	return false
}

func lookup(d bson.D, k string) (any, bool) {
	if i := mIndex(d, k); i >= 0 {
		return d[i].Value, true
	}
	return nil, false
}

// sameBSON compares two values byte for byte (types kept, field order kept).
func sameBSON(a, b any) bool {
	x, err1 := bson.Marshal(bson.D{{Key: "v", Value: a}})
	y, err2 := bson.Marshal(bson.D{{Key: "v", Value: b}})
	if err1 != nil || err2 != nil {
		panic(fmt.Sprint("model: marshal: ", err1, err2))
	}
	return string(x) == string(y)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case bson.D:
		y := make(bson.D, len(x))
		for i, e := range x {
			y[i] = bson.E{Key: e.Key, Value: deepCopy(e.Value)}
		}
		return y
	case bson.A:
		y := make(bson.A, len(x))
		for i, e := range x {
			y[i] = deepCopy(e)
		}
		return y
	}
	return v
}
