package applier

import (
	"bytes"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// errNeedsDocument means a $v:2 diff cannot be expressed as $set/$unset
// (array truncation, binary patches, insert sections whose field order
// matters, literal dotted or $-prefixed field names): it is applied to the
// fetched document instead.
var errNeedsDocument = errors.New("diff needs the current document")

// pathSink collects $set and $unset paths as raw BSON elements (no document
// framing), written straight from the diff's bytes.
type pathSink struct {
	set, unset []byte
	path       []byte // scratch: the current path prefix
}

// diffToUpdate walks a $v:2 document diff and appends its $set and $unset
// paths under prefix to s.
func diffToUpdate(diff bson.Raw, prefix []byte, s *pathSink) error {
	return eachElement(diff, func(el bsoncore.Element) error {
		k := el.KeyBytes()
		switch {
		case len(k) == 1 && k[0] == 'd':
			return s.addPaths(el.Value(), prefix, true)
		case len(k) == 1 && k[0] == 'u':
			return s.addPaths(el.Value(), prefix, false)
		case len(k) == 1 && (k[0] == 'i' || k[0] == 'b'):
			// i: mongod (re)places inserted fields at the end, in diff
			// order, where $set keeps an existing field's place. b: a
			// binary patch has no $set form.
			return errNeedsDocument
		case len(k) > 0 && k[0] == 's':
			field := k[1:]
			if !plainField(field) {
				return errNeedsDocument
			}
			sub, ok := el.Value().DocumentOK()
			if !ok {
				return fmt.Errorf("diff section %q is not a document", k)
			}
			return s.subDiff(bson.Raw(sub), joinPath(prefix, 0, field))
		}
		return fmt.Errorf("unknown diff section %q", k)
	})
}

// subDiff handles an "s<field>" sub-diff: an array diff or a document diff.
func (s *pathSink) subDiff(sub bson.Raw, path []byte) error {
	if isArr, _ := sub.Lookup("a").BooleanOK(); isArr {
		return s.arrayDiff(sub, path)
	}
	return diffToUpdate(sub, append(path, '.'), s)
}

func (s *pathSink) arrayDiff(sub bson.Raw, path []byte) error {
	return eachElement(sub, func(el bsoncore.Element) error {
		k := el.KeyBytes()
		switch {
		case len(k) == 1 && k[0] == 'a':
			return nil
		case len(k) == 1 && k[0] == 'l':
			return errNeedsDocument // truncation has no $set/$unset form
		case len(k) > 1 && (k[0] == 'u' || k[0] == 's'):
			if !digits(k[1:]) {
				return fmt.Errorf("bad array diff key %q", k)
			}
			elem := joinPath(path, '.', k[1:])
			if k[0] == 'u' {
				s.set = appendElement(s.set, elem, el.Value())
				return nil
			}
			d, ok := el.Value().DocumentOK()
			if !ok {
				return fmt.Errorf("array diff section %q is not a document", k)
			}
			return s.subDiff(bson.Raw(d), elem)
		}
		return fmt.Errorf("unknown array diff section %q", k)
	})
}

// addPaths appends a d (unset) or u (set) section's fields under prefix.
func (s *pathSink) addPaths(section bsoncore.Value, prefix []byte, unset bool) error {
	d, ok := section.DocumentOK()
	if !ok {
		return fmt.Errorf("diff section is %s, not a document", section.Type)
	}
	return eachElement(bson.Raw(d), func(f bsoncore.Element) error {
		key := f.KeyBytes()
		if !plainField(key) {
			return errNeedsDocument
		}
		s.path = append(append(s.path[:0], prefix...), key...)
		if unset {
			s.unset = appendElement(s.unset, s.path, bsoncore.Value{Type: bsoncore.TypeBoolean, Data: []byte{1}})
		} else {
			s.set = appendElement(s.set, s.path, f.Value())
		}
		return nil
	})
}

// appendElement appends one raw BSON element: type, key, NUL, value.
func appendElement(dst, key []byte, v bsoncore.Value) []byte {
	dst = append(dst, byte(v.Type))
	dst = append(append(dst, key...), 0)
	return append(dst, v.Data...)
}

// eachElement calls f for every top-level element of doc, without allocating.
func eachElement(doc bson.Raw, f func(bsoncore.Element) error) error {
	if len(doc) < 5 {
		return errMalformed
	}
	rest := []byte(doc)[4 : len(doc)-1]
	for len(rest) > 0 {
		el, r, ok := bsoncore.ReadElement(rest)
		if !ok {
			return errMalformed
		}
		if err := f(el); err != nil {
			return err
		}
		rest = r
	}
	return nil
}

// joinPath is prefix, then sep (unless 0), then field, in a new buffer.
func joinPath(prefix []byte, sep byte, field []byte) []byte {
	p := make([]byte, 0, len(prefix)+len(field)+8)
	p = append(p, prefix...)
	if sep != 0 {
		p = append(p, sep)
	}
	return append(p, field...)
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// plainField is a field name usable in a $set path.
func plainField(f []byte) bool {
	return len(f) > 0 && f[0] != '$' && !bytes.ContainsRune(f, '.')
}
