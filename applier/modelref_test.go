package applier

// A reference of mongod's oplog application, written from mongod's rules
// (document_diff_applier.cpp, the update nodes in oplog application mode)
// and independent of the applier: the model test uses it to check its own
// generator (each entry turns S(k-1) into S(k)) and that the property it
// asserts holds under mongod's rules (replaying from any later state
// converges), so a failure on the server is the applier's, not the
// generator's.

import (
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// refApply applies one oplog entry to the document state (nil = absent).
func refApply(cur bson.D, e bson.D) bson.D {
	op, _ := lookup(e, "op")
	o, _ := lookup(e, "o")
	od := o.(bson.D)
	switch op {
	case "i":
		return deepCopy(od).(bson.D) // insert: replace by _id, upsert
	case "d":
		return nil // a missing document: nothing to do
	}
	if cur == nil { // an update of a missing document applies to {_id}
		o2, _ := lookup(e, "o2")
		id, _ := lookup(o2.(bson.D), "_id")
		cur = bson.D{{Key: "_id", Value: id}}
	}
	v, _ := lookup(od, "$v")
	switch v {
	case int32(2):
		diff, _ := lookup(od, "diff")
		return refDiff(deepCopy(cur).(bson.D), diff.(bson.D))
	case int32(1):
		return refV1(cur, od)
	}
	return deepCopy(od).(bson.D) // replacement
}

// refV1 applies $set/$unset; a non-viable path is a no-op for that path.
func refV1(cur bson.D, o bson.D) bson.D {
	d := deepCopy(cur).(bson.D)
	for _, sec := range o {
		for _, e := range asDoc(sec.Value) {
			path := strings.Split(e.Key, ".")
			switch sec.Key {
			case "$set":
				d = refSet(d, path, e.Value)
			case "$unset":
				d = refUnset(d, path)
			}
		}
	}
	return d
}

func refSet(d bson.D, path []string, v any) bson.D {
	i := mIndex(d, path[0])
	if len(path) == 1 {
		if i < 0 {
			return append(d, bson.E{Key: path[0], Value: deepCopy(v)})
		}
		d[i].Value = deepCopy(v)
		return d
	}
	if i < 0 {
		nested := deepCopy(v)
		for j := len(path) - 1; j >= 1; j-- {
			nested = bson.D{{Key: path[j], Value: nested}}
		}
		return append(d, bson.E{Key: path[0], Value: nested})
	}
	if sub, ok := d[i].Value.(bson.D); ok {
		d[i].Value = refSet(sub, path[1:], v)
	} // a scalar, null or array: not viable, no-op (the generator uses no array indexes)
	return d
}

func refUnset(d bson.D, path []string) bson.D {
	i := mIndex(d, path[0])
	switch {
	case i < 0:
		return d
	case len(path) == 1:
		return append(d[:i], d[i+1:]...)
	}
	if sub, ok := d[i].Value.(bson.D); ok {
		d[i].Value = refUnset(sub, path[1:])
	}
	return d
}

// refDiff applies a $v:2 document diff as mongod's diff applier does.
func refDiff(d bson.D, diff bson.D) bson.D {
	for _, sec := range diff {
		switch k := sec.Key; {
		case k == "d":
			for _, f := range asDoc(sec.Value) {
				if i := mIndex(d, f.Key); i >= 0 {
					d = append(d[:i], d[i+1:]...)
				}
			}
		case k == "u":
			for _, f := range asDoc(sec.Value) {
				if i := mIndex(d, f.Key); i >= 0 {
					d[i].Value = deepCopy(f.Value)
				} else {
					d = append(d, bson.E{Key: f.Key, Value: deepCopy(f.Value)})
				}
			}
		case k == "i":
			for _, f := range asDoc(sec.Value) {
				if i := mIndex(d, f.Key); i >= 0 {
					d = append(d[:i], d[i+1:]...)
				}
				d = append(d, bson.E{Key: f.Key, Value: deepCopy(f.Value)})
			}
		case strings.HasPrefix(k, "s"):
			i := mIndex(d, k[1:])
			if i < 0 {
				continue // a sub-diff of a missing field: no-op
			}
			d[i].Value = refSub(d[i].Value, asDoc(sec.Value))
		}
	}
	return d
}

// refSub applies a sub-diff; onto a value of the wrong type it gives null.
func refSub(cur any, sub bson.D) any {
	if a, ok := lookup(sub, "a"); ok && a == true {
		arr, ok := cur.(bson.A)
		if !ok {
			return nil
		}
		return refArrayDiff(arr, sub)
	}
	obj, ok := cur.(bson.D)
	if !ok {
		return nil
	}
	return refDiff(obj, sub)
}

// refArrayDiff: l truncates (or pads with null), u<idx> sets, indexes past
// the end are padded with null, s<idx> onto a missing element gives null.
func refArrayDiff(arr bson.A, sub bson.D) bson.A {
	if l, ok := lookup(sub, "l"); ok {
		n := int(l.(int32))
		for len(arr) < n {
			arr = append(arr, nil)
		}
		arr = arr[:n]
	}
	for _, e := range sub {
		if e.Key == "a" || e.Key == "l" {
			continue
		}
		idx, err := strconv.Atoi(e.Key[1:])
		if err != nil {
			panic("model: array diff key " + e.Key)
		}
		for len(arr) <= idx {
			arr = append(arr, nil)
		}
		switch e.Key[0] {
		case 'u':
			arr[idx] = deepCopy(e.Value)
		case 's':
			arr[idx] = refSub(arr[idx], asDoc(e.Value))
		}
	}
	return arr
}

func asDoc(v any) bson.D {
	d, _ := v.(bson.D)
	return d
}

func mIndex(d bson.D, k string) int {
	for i, e := range d {
		if e.Key == k {
			return i
		}
	}
	return -1
}
