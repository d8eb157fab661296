package applier

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// projectDoc keeps _id and the projected fields (dotted paths reach into
// sub-documents) of doc; fields == nil keeps everything.
func projectDoc(doc bson.Raw, fields []string) any {
	if fields == nil {
		return doc
	}
	var d bson.D
	if err := bson.Unmarshal(doc, &d); err != nil {
		return doc
	}
	return projectD(d, fields, "")
}

func projectD(d bson.D, fields []string, prefix string) bson.D {
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
				out = append(out, bson.E{Key: e.Key, Value: projectD(sub, fields, path+".")})
			}
		}
	}
	return out
}

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

// projectPaths keeps the update paths that touch projected fields; a path
// that is a parent of projected fields keeps only their part of its value.
func projectPaths(paths bson.D, fields []string) bson.D {
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
						v = projectD(d, fields, p.Key+".")
					}
				}
			} else if d, ok := p.Value.(bson.D); ok {
				v = projectD(d, fields, p.Key+".")
			}
			out = append(out, bson.E{Key: p.Key, Value: v})
		}
	}
	return out
}
