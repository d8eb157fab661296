package update

import (
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ApplyDiff applies a $v:2 document diff to doc the way mongod's diff
// applier does: d deletes, u overwrites in place (or appends), i (re)places
// at the end, s<field> recurses; a sub-diff of a missing field does nothing,
// one of a field of the wrong type sets it to null.
func ApplyDiff(doc bson.D, diff bson.D) (bson.D, error) {
	for _, sec := range diff {
		switch k := sec.Key; {
		case k == "d":
			for _, f := range asD(sec.Value) {
				doc = Remove(doc, f.Key)
			}
		case k == "u":
			for _, f := range asD(sec.Value) {
				doc = setField(doc, f.Key, f.Value)
			}
		case k == "i":
			for _, f := range asD(sec.Value) {
				doc = append(Remove(doc, f.Key), bson.E{Key: f.Key, Value: f.Value})
			}
		case k == "b":
			for _, f := range asD(sec.Value) {
				i := Index(doc, f.Key)
				if i < 0 {
					continue
				}
				v, err := patchBinary(doc[i].Value, asD(f.Value))
				if err != nil {
					return nil, fmt.Errorf("binary diff of %q: %w", f.Key, err)
				}
				doc[i].Value = v
			}
		case strings.HasPrefix(k, "s"):
			field := k[1:]
			sub, ok := sec.Value.(bson.D)
			if !ok {
				return nil, fmt.Errorf("diff section %q is not a document", k)
			}
			i := Index(doc, field)
			if i < 0 {
				continue
			}
			v, err := applySub(doc[i].Value, sub)
			if err != nil {
				return nil, err
			}
			doc[i].Value = v
		default:
			return nil, fmt.Errorf("unknown diff section %q", k)
		}
	}
	return doc, nil
}

func applySub(cur any, sub bson.D) (any, error) {
	if isArrayDiff(sub) {
		arr, ok := cur.(bson.A)
		if !ok {
			return nil, nil
		}
		return applyArrayDiff(arr, sub)
	}
	d, ok := cur.(bson.D)
	if !ok {
		return nil, nil
	}
	return ApplyDiff(d, sub)
}

func isArrayDiff(sub bson.D) bool {
	for _, e := range sub {
		if e.Key == "a" {
			b, _ := e.Value.(bool)
			return b
		}
	}
	return false
}

func applyArrayDiff(arr bson.A, sub bson.D) (bson.A, error) {
	out := append(bson.A{}, arr...) // never nil: a nil bson.A is stored as null
	grow := func(n int) {
		for len(out) < n {
			out = append(out, nil)
		}
	}
	for _, e := range sub {
		switch k := e.Key; {
		case k == "a":
		case k == "l":
			n, ok := asInt(e.Value)
			if !ok || n < 0 {
				return nil, fmt.Errorf("array diff length %v is not a number", e.Value)
			}
			if n < len(out) {
				out = out[:n]
			} else {
				grow(n)
			}
		case strings.HasPrefix(k, "u"), strings.HasPrefix(k, "s"):
			idx, err := strconv.Atoi(k[1:])
			if err != nil || idx < 0 {
				return nil, fmt.Errorf("bad array diff key %q", k)
			}
			grow(idx + 1)
			if k[0] == 'u' {
				out[idx] = e.Value
				continue
			}
			d, ok := e.Value.(bson.D)
			if !ok {
				return nil, fmt.Errorf("array diff section %q is not a document", k)
			}
			v, err := applySub(out[idx], d)
			if err != nil {
				return nil, err
			}
			out[idx] = v
		default:
			return nil, fmt.Errorf("unknown array diff section %q", k)
		}
	}
	return out, nil
}

func asD(v any) bson.D {
	d, _ := v.(bson.D)
	return d
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case float64:
		return int(n), n == float64(int(n))
	}
	return 0, false
}

// Index is the position of key in d, -1 if d has no such field.
func Index(d bson.D, key string) int {
	for i, e := range d {
		if e.Key == key {
			return i
		}
	}
	return -1
}

// Remove is d without its field key (d itself when it has none).
func Remove(d bson.D, key string) bson.D {
	if i := Index(d, key); i >= 0 {
		return append(d[:i:i], d[i+1:]...)
	}
	return d
}

func setField(d bson.D, key string, v any) bson.D {
	if i := Index(d, key); i >= 0 {
		d[i].Value = v
		return d
	}
	return append(d, bson.E{Key: key, Value: v})
}

// patchBinary writes d at byte offset o of a BinData value, keeping its
// subtype: the $v:2 "b" section (time-series bucket columns).
func patchBinary(cur any, patch bson.D) (any, error) {
	bin, ok := cur.(bson.Binary)
	if !ok {
		return nil, nil
	}
	var off int
	var data []byte
	for _, e := range patch {
		switch e.Key {
		case "o":
			n, ok := asInt(e.Value)
			if !ok || n < 0 {
				return nil, fmt.Errorf("offset %v is not a number", e.Value)
			}
			off = n
		case "d":
			b, ok := e.Value.(bson.Binary)
			if !ok {
				return nil, fmt.Errorf("patch data is not BinData")
			}
			data = b.Data
		}
	}
	if off > len(bin.Data) {
		return nil, fmt.Errorf("offset %d is past the value's %d bytes", off, len(bin.Data))
	}
	out := append([]byte(nil), bin.Data[:off]...)
	out = append(out, data...)
	if end := off + len(data); end < len(bin.Data) {
		out = append(out, bin.Data[end:]...)
	}
	return bson.Binary{Subtype: bin.Subtype, Data: out}, nil
}
