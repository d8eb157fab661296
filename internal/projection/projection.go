// Package projection keeps the synced fields of documents and update paths
// (sync.dbs colls fields): _id always, dotted fields reach into
// sub-documents.
package projection

import (
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Doc keeps _id and the projected fields (dotted paths reach into
// sub-documents) of doc; fields == nil keeps everything.
func Doc(doc bson.Raw, fields []string) any {
	if fields == nil {
		return doc
	}
	var d bson.D
	if err := bson.Unmarshal(doc, &d); err != nil {
		return doc
	}
	return D(d, fields, "")
}

// D is Doc for a decoded document; prefix is the path of d itself.
func D(d bson.D, fields []string, prefix string) bson.D {
	out := bson.D{}
	for _, e := range d {
		path := prefix + e.Key
		if prefix == "" && e.Key == "_id" {
			out = append(out, e)
			continue
		}
		switch keep(path, fields) {
		case keepAll:
			out = append(out, e)
		case keepPart:
			if sub, ok := e.Value.(bson.D); ok {
				out = append(out, bson.E{Key: e.Key, Value: D(sub, fields, path+".")})
			}
		}
	}
	return out
}

var errMalformed = errors.New("malformed BSON")

type keepKind int

const (
	keepNone keepKind = iota
	keepAll           // path is a projected field or inside one
	keepPart          // path is a parent of a projected field
)

func keep(path string, fields []string) keepKind {
	k := keepNone
	for _, f := range fields {
		switch {
		case path == f || strings.HasPrefix(path, f+"."):
			return keepAll
		case strings.HasPrefix(f, path+"."):
			k = keepPart
		}
	}
	return k
}

// RawPaths is Paths over raw $set/$unset elements.
func RawPaths(elems []byte, fields []string) ([]byte, error) {
	var out []byte
	for rest := elems; len(rest) > 0; {
		el, r, ok := bsoncore.ReadElement(rest)
		if !ok {
			return nil, errMalformed
		}
		rest = r
		switch keep(el.Key(), fields) {
		case keepAll:
			out = append(out, el...)
		case keepPart:
			doc, ok := el.Value().DocumentOK()
			if !ok {
				continue
			}
			var d bson.D
			if err := bson.Unmarshal(doc, &d); err != nil {
				return nil, err
			}
			b, err := bson.Marshal(D(d, fields, el.Key()+"."))
			if err != nil {
				return nil, err
			}
			out = bsoncore.AppendDocumentElement(out, el.Key(), b)
		}
	}
	return out, nil
}

// Paths keeps the update paths that touch projected fields; a path
// that is a parent of projected fields keeps only their part of its value.
func Paths(paths bson.D, fields []string) bson.D {
	if fields == nil {
		return paths
	}
	var out bson.D
	for _, p := range paths {
		switch keep(p.Key, fields) {
		case keepAll:
			out = append(out, p)
		case keepPart:
			var v any = p.Value
			if rv, ok := p.Value.(bson.RawValue); ok {
				if doc, ok := rv.DocumentOK(); ok {
					var d bson.D
					if bson.Unmarshal(doc, &d) == nil {
						v = D(d, fields, p.Key+".")
					}
				}
			} else if d, ok := p.Value.(bson.D); ok {
				v = D(d, fields, p.Key+".")
			}
			out = append(out, bson.E{Key: p.Key, Value: v})
		}
	}
	return out
}
