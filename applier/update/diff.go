// Package update applies MongoDB update statements the way oplog
// application does: a $v:2 diff turned into $set/$unset paths where it
// can be (DiffToUpdate), a diff applied to a whole document where it
// cannot (ApplyDiff), and modifier updates applied in Go to the current
// document under the re-application rules (After, ApplyModifiers,
// ApplyDiffPaths).
package update

import (
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// ErrNeedsDocument means a $v:2 diff cannot be expressed as $set/$unset
// (array truncation, binary patches, insert sections whose field order
// matters, literal dotted or $-prefixed field names): it is applied to the
// fetched document instead.
var ErrNeedsDocument = errors.New("diff needs the current document")

// Sink collects $set and $unset paths as raw BSON elements (no document
// framing), written straight from the diff's bytes. Its buffers are reused
// from diff to diff.
type Sink struct {
	Set, Unset []byte
	path       []byte // the current path; a prefix is path[:n]
}

// Reset empties s for the next diff, keeping its buffers.
func (s *Sink) Reset() {
	s.Set, s.Unset, s.path = s.Set[:0], s.Unset[:0], s.path[:0]
}

// DiffToUpdate walks a $v:2 document diff and appends its $set and $unset
// paths to s.
func DiffToUpdate(diff bson.Raw, s *Sink) error {
	s.path = s.path[:0]
	return s.docDiff(diff, 0)
}

// docDiff walks a document diff whose paths start with s.path[:prefix].
func (s *Sink) docDiff(diff bson.Raw, prefix int) error {
	it := oplog.ElementsOf(diff)
	for it.Next() {
		k, v := it.Key(), it.Val()
		var err error
		switch {
		case len(k) == 1 && k[0] == 'd':
			err = s.addPaths(v, prefix, true)
		case len(k) == 1 && k[0] == 'u':
			err = s.addPaths(v, prefix, false)
		case len(k) == 1 && (k[0] == 'i' || k[0] == 'b'):
			// i: mongod (re)places inserted fields at the end, in diff
			// order, where $set keeps an existing field's place. b: a
			// binary patch has no $set form.
			return ErrNeedsDocument
		case len(k) > 0 && k[0] == 's':
			field := k[1:]
			if !plainField(field) {
				return ErrNeedsDocument
			}
			sub, ok := oplog.DocOK(v)
			if !ok {
				return fmt.Errorf("diff section %q is not a document", k)
			}
			err = s.subDiff(sub, s.extend(prefix, field))
		default:
			return fmt.Errorf("unknown diff section %q", k)
		}
		if err != nil {
			return err
		}
	}
	return it.Err()
}

// extend sets s.path to its prefix, a dot unless the prefix is empty, and
// field; it returns the new length.
func (s *Sink) extend(prefix int, field []byte) int {
	s.path = s.path[:prefix]
	if prefix > 0 {
		s.path = append(s.path, '.')
	}
	s.path = append(s.path, field...)
	return len(s.path)
}

// subDiff handles an "s<field>" sub-diff at s.path[:path]: an array diff
// or a document diff.
func (s *Sink) subDiff(sub bson.Raw, path int) error {
	// mongod writes an array diff's a: true first: read in place.
	if len(sub) >= 9 && sub[4] == byte(bsoncore.TypeBoolean) && sub[5] == 'a' && sub[6] == 0 && sub[7] == 1 {
		return s.arrayDiff(sub, path)
	}
	if v, ok := oplog.LookupTop(sub, "a"); ok {
		if isArr, _ := v.BooleanOK(); isArr {
			return s.arrayDiff(sub, path)
		}
	}
	return s.docDiff(sub, path)
}

func (s *Sink) arrayDiff(sub bson.Raw, path int) error {
	it := oplog.ElementsOf(sub)
	for it.Next() {
		k, v := it.Key(), it.Val()
		switch {
		case len(k) == 1 && k[0] == 'a':
		case len(k) == 1 && k[0] == 'l':
			return ErrNeedsDocument // truncation has no $set/$unset form
		case len(k) > 1 && (k[0] == 'u' || k[0] == 's'):
			if !digits(k[1:]) {
				return fmt.Errorf("bad array diff key %q", k)
			}
			elem := s.extend(path, k[1:])
			if k[0] == 'u' {
				s.Set = appendElement(s.Set, s.path[:elem], v)
				continue
			}
			d, ok := oplog.DocOK(v)
			if !ok {
				return fmt.Errorf("array diff section %q is not a document", k)
			}
			if err := s.subDiff(d, elem); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown array diff section %q", k)
		}
	}
	return it.Err()
}

// addPaths appends a d (unset) or u (set) section's fields under
// s.path[:prefix].
func (s *Sink) addPaths(section bsoncore.Value, prefix int, unset bool) error {
	d, ok := oplog.DocOK(section)
	if !ok {
		return fmt.Errorf("diff section is %s, not a document", section.Type)
	}
	it := oplog.ElementsOf(d)
	for it.Next() {
		key := it.Key()
		if !plainField(key) {
			return ErrNeedsDocument
		}
		path := s.path[:s.extend(prefix, key)]
		if unset {
			s.Unset = appendElement(s.Unset, path, bsoncore.Value{Type: bsoncore.TypeBoolean, Data: trueByte})
		} else {
			s.Set = appendElement(s.Set, path, it.Val())
		}
	}
	return it.Err()
}

var trueByte = []byte{1}

// appendElement appends one raw BSON element: type, key, NUL, value.
func appendElement(dst, key []byte, v bsoncore.Value) []byte {
	dst = append(dst, byte(v.Type))
	dst = append(append(dst, key...), 0)
	return append(dst, v.Data...)
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
	if len(f) == 0 || f[0] == '$' {
		return false
	}
	for _, c := range f {
		if c == '.' {
			return false
		}
	}
	return true
}
