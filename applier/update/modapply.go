package update

import (
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ApplyModifiers applies an oplog modifier update ({$set: {path: v},
// $unset: {path: true}}, as mongod logs $v:1 updates and as the applier
// sends $v:2 diffs) to doc the way oplog application does: a path that
// cannot exist in doc (it crosses a scalar, a null, or an array by a
// non-numeric name) is a no-op for that path, and the statement's other
// paths still apply. nonViable counts the paths skipped.
func ApplyModifiers(doc bson.D, update bson.Raw) (out bson.D, nonViable int, err error) {
	var u bson.D
	if err := bson.Unmarshal(update, &u); err != nil {
		return nil, 0, fmt.Errorf("update document: %w", err)
	}
	for _, m := range u {
		paths, ok := m.Value.(bson.D)
		if !ok {
			return nil, 0, fmt.Errorf("modifier %s is not a document", m.Key)
		}
		for _, p := range paths {
			var ok bool
			switch m.Key {
			case "$set":
				doc, ok = SetPath(doc, strings.Split(p.Key, "."), p.Value)
			case "$unset":
				doc, ok = unsetPath(doc, strings.Split(p.Key, "."))
			default:
				return nil, 0, fmt.Errorf("modifier %s does not appear in oplog updates", m.Key)
			}
			if !ok {
				nonViable++
			}
		}
	}
	return doc, nonViable, nil
}

// SetPath sets path in doc as $set does, creating missing embedded
// documents; ok is false when the path is not viable (doc is unchanged).
func SetPath(doc bson.D, path []string, v any) (bson.D, bool) {
	i := Index(doc, path[0])
	if len(path) == 1 {
		return setField(doc, path[0], v), true
	}
	if i < 0 {
		sub, _ := SetPath(bson.D{}, path[1:], v)
		return append(doc, bson.E{Key: path[0], Value: sub}), true
	}
	child, ok := setIn(doc[i].Value, path[1:], v)
	if !ok {
		return doc, false
	}
	doc[i].Value = child
	return doc, true
}

// setIn sets path inside the value cur (a document or an array).
func setIn(cur any, path []string, v any) (any, bool) {
	switch c := cur.(type) {
	case bson.D:
		return SetPath(c, path, v)
	case bson.A:
		n, err := strconv.Atoi(path[0])
		if err != nil || n < 0 || strconv.Itoa(n) != path[0] {
			return cur, false // a field name on an array
		}
		for len(c) <= n {
			if len(path) > 1 && len(c) == n {
				c = append(c, bson.D{})
				break
			}
			c = append(c, nil)
		}
		if len(path) == 1 {
			c[n] = v
			return c, true
		}
		if c[n] == nil {
			return cur, false // $set does not create through a null element
		}
		child, ok := setIn(c[n], path[1:], v)
		if !ok {
			return cur, false
		}
		c[n] = child
		return c, true
	}
	return cur, false // a scalar or null on the way
}

// unsetPath removes path from doc as $unset does (an array element becomes
// null); ok is false when the path crosses a value that is not a container.
func unsetPath(doc bson.D, path []string) (bson.D, bool) {
	i := Index(doc, path[0])
	if i < 0 {
		return doc, true // nothing to remove
	}
	if len(path) == 1 {
		return Remove(doc, path[0]), true
	}
	child, ok := unsetIn(doc[i].Value, path[1:])
	if ok {
		doc[i].Value = child
	}
	return doc, ok
}

func unsetIn(cur any, path []string) (any, bool) {
	switch c := cur.(type) {
	case bson.D:
		return unsetPath(c, path)
	case bson.A:
		n, err := strconv.Atoi(path[0])
		if err != nil || n < 0 {
			return cur, false
		}
		if n >= len(c) {
			return cur, true
		}
		if len(path) == 1 {
			c[n] = nil
			return c, true
		}
		child, ok := unsetIn(c[n], path[1:])
		if ok {
			c[n] = child
		}
		return c, ok
	}
	return cur, false
}

// ApplyDiffPaths applies the $set/$unset form of a $v:2 diff (see
// DiffToUpdate) to doc by mongod's diff rules: a path through a field that
// is missing is a no-op (its sub-diff had nothing to apply to), one through
// a field of the wrong type sets that field to null, and a numeric name
// indexes an array (an array diff's u<i>/s<i>), growing it with nulls.
// nonViable counts the paths that did not apply as written.
func ApplyDiffPaths(doc bson.D, update bson.Raw) (bson.D, int, error) {
	var u bson.D
	if err := bson.Unmarshal(update, &u); err != nil {
		return nil, 0, fmt.Errorf("update document: %w", err)
	}
	nonViable := 0
	for _, m := range u {
		paths, ok := m.Value.(bson.D)
		if !ok || (m.Key != "$set" && m.Key != "$unset") {
			return nil, 0, fmt.Errorf("modifier %s does not come from a diff", m.Key)
		}
		for _, p := range paths {
			out, ok := diffIn(doc, strings.Split(p.Key, "."), p.Value, m.Key == "$unset")
			doc = out.(bson.D)
			if !ok {
				nonViable++
			}
		}
	}
	return doc, nonViable, nil
}

// diffIn applies one diff path to cur; it returns cur's new value (nil for
// a value of the wrong type on the way) and whether the path applied.
func diffIn(cur any, path []string, v any, del bool) (any, bool) {
	switch c := cur.(type) {
	case bson.D:
		if len(path) == 1 {
			if del {
				return Remove(c, path[0]), true
			}
			return setField(c, path[0], v), true
		}
		i := Index(c, path[0])
		if i < 0 {
			return c, false // a sub-diff of a missing field: nothing to do
		}
		child, ok := diffIn(c[i].Value, path[1:], v, del)
		c[i].Value = child
		return c, ok
	case bson.A:
		n, err := strconv.Atoi(path[0])
		if err != nil || n < 0 {
			return nil, false
		}
		if len(path) == 1 {
			if del {
				return c, true // array diffs remove nothing by index
			}
			for len(c) <= n {
				c = append(c, nil)
			}
			c[n] = v
			return c, true
		}
		if n >= len(c) {
			return c, false
		}
		child, ok := diffIn(c[n], path[1:], v, del)
		c[n] = child
		return c, ok
	}
	return nil, false // a sub-diff of a field of the wrong type: null
}
