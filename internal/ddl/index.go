package ddl

import "go.mongodb.org/mongo-driver/v2/bson"

// Index specs come from mongod's catalog: listIndexes lists them, and the
// createIndexes, startIndexBuild and commitIndexBuild entries (inserts into
// system.indexes before 3.6) log them. createIndexes on a destination reads
// a spec in another form (mongodb/mongo src/mongo/db/catalog/
// index_key_validate.cpp, validateIndexSpec and validateIndexSpecCollation;
// src/mongo/db/catalog/index_catalog_impl.cpp, _isSpecOk):
//   - v, ns and background are the destination's own: it picks the index
//     version, ns names the source's collection (4.2 and older wrote it,
//     4.4 still lists it on their indexes; src/mongo/db/list_indexes.idl),
//     background is ignored since 4.2;
//   - _id (a spec inserted into system.indexes under a legacy write mode)
//     and bucketSize outside a geoHaystack index (4.4 took it on any
//     index) mean nothing to mongod: 5.0+ lists no _id, and createIndexes
//     refuses bucketSize between geoHaystack's removal (5.0) and
//     SERVER-76108, which allowed it again (r7.0 does not allow it);
//   - no collation in the catalog is the simple collation; in createIndexes
//     it is the collection's default collation (see SimpleCollation).
// Any other field, known or not, goes to the destination as it is: one the
// destination does not know is refused there, naming the field and the
// spec, never dropped here.

// IndexSpecForCreate is spec without the fields a destination sets itself
// or mongod ignores (see above). Nested values stay as they are (native or
// bson.RawValue).
func IndexSpecForCreate(spec bson.D) bson.D {
	haystack := indexPlugin(lookupD(spec, "key")) == "geoHaystack"
	out := make(bson.D, 0, len(spec))
	for _, e := range spec {
		switch e.Key {
		case "v", "ns", "background", "_id":
			continue
		case "bucketSize":
			if !haystack {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// SimpleCollation is spec with its collation made explicit for a
// collection that has a default collation: a spec without one is the
// simple collation in the catalog, and createIndexes would give it the
// collection's (a text, 2d or geoHaystack index, which take no collation,
// would be refused). collated says whether the destination collection has
// a default collation; without one, spec is returned as it is.
func SimpleCollation(spec bson.D, collated bool) bson.D {
	if !collated || lookupD(spec, "collation") != nil {
		return spec
	}
	return append(append(make(bson.D, 0, len(spec)+1), spec...),
		bson.E{Key: "collation", Value: bson.D{{Key: "locale", Value: "simple"}}})
}

// HasDefaultCollation reports whether collection options (listCollections'
// options, a create entry's o) give a default collation: the simple one is
// never listed.
func HasDefaultCollation(options bson.Raw) bool {
	if len(options) < 5 {
		return false
	}
	_, ok := options.Lookup("collation").DocumentOK()
	return ok
}

// indexPlugin is the index type a key pattern names ("2d", "text",
// "geoHaystack", ...), "" for a plain one.
func indexPlugin(key any) string {
	t, b, err := bson.MarshalValue(key)
	if err != nil {
		return ""
	}
	doc, ok := bson.RawValue{Type: t, Value: b}.DocumentOK()
	if !ok {
		return ""
	}
	elems, _ := bson.Raw(doc).Elements()
	for _, e := range elems {
		if s, ok := e.Value().StringValueOK(); ok {
			return s
		}
	}
	return ""
}

func lookupD(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}
