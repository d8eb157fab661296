package config

import (
	"fmt"
	"strings"
)

// BucketsPrefix begins the collection a time-series collection keeps its
// measurements in (db.system.buckets.<name>).
const BucketsPrefix = "system.buckets."

// Namespaces answers, for every source namespace, whether it is synced,
// where it goes on the destination, and which fields it keeps. It is built
// from sync.dbs; with no dbs everything but internal namespaces is synced.
type Namespaces struct {
	all    bool
	dbs    map[string]*dbRule
	fields map[string][]string // source ns -> projected fields
}

type dbRule struct {
	rename string
	all    bool            // every collection of the db
	colls  map[string]bool // else just these
}

// ReservedDB is mongo-sync's own database on a destination: the marker that
// identifies the deployment (binding). It is never synced, so a destination
// that is also the source of another sync does not pass it on.
const ReservedDB = "mongo_sync"

// Internal reports namespaces no sync ever touches: admin, local and config
// databases, mongo-sync's reserved database, and system.* collections,
// except system.buckets.* (the data of time-series collections) and
// system.js / system.views (user data).
func Internal(db, coll string) bool {
	switch db {
	case "admin", "local", "config", ReservedDB:
		return true
	}
	if strings.HasPrefix(coll, BucketsPrefix) || coll == "system.js" || coll == "system.views" {
		return false
	}
	return strings.HasPrefix(coll, "system.")
}

func (c *Config) validateDBs() error {
	_, err := c.buildNamespaces()
	return err
}

// Namespaces returns the namespace rules of sync.dbs.
func (c *Config) Namespaces() *Namespaces {
	n, err := c.buildNamespaces()
	if err != nil {
		panic("config: Namespaces on an invalid config: " + err.Error()) // Validate ran first
	}
	return n
}

func (c *Config) buildNamespaces() (*Namespaces, error) {
	n := &Namespaces{all: len(c.Sync.DBs) == 0, dbs: map[string]*dbRule{}, fields: map[string][]string{}}
	renamedTo := map[string]string{}
	for i, d := range c.Sync.DBs {
		key := fmt.Sprintf("sync.dbs[%d]", i)
		db := strings.TrimSpace(d.DB)
		if err := checkDBName(db); err != nil {
			return nil, c.errorf(key+".db", "%v", err)
		}
		if Internal(db, "") {
			return nil, c.errorf(key+".db", "%q is an internal database and is never synced", db)
		}
		if _, dup := n.dbs[db]; dup {
			return nil, c.errorf(key+".db", "database %q is listed twice", db)
		}
		rule := &dbRule{rename: strings.TrimSpace(d.RenameDB), colls: map[string]bool{}}
		if rule.rename != "" {
			if err := checkDBName(rule.rename); err != nil {
				return nil, c.errorf(key+".rename_db", "%v", err)
			}
			if Internal(rule.rename, "") {
				return nil, c.errorf(key+".rename_db", "%q is an internal database: nothing is synced into it", rule.rename)
			}
		}
		target := db
		if rule.rename != "" {
			target = rule.rename
		}
		if prev, dup := renamedTo[target]; dup {
			return nil, c.errorf(key+".rename_db", "databases %q and %q both go to %q", prev, db, target)
		}
		renamedTo[target] = db
		if len(d.Colls) == 0 {
			rule.all = true
		}
		for j, cl := range d.Colls {
			ckey := fmt.Sprintf("%s.colls[%d]", key, j)
			name := strings.TrimSpace(cl.Coll)
			if name == "*" {
				if len(cl.Fields) > 0 {
					return nil, c.errorf(ckey+".fields", "fields cannot be given for coll \"*\"")
				}
				rule.all = true
				continue
			}
			if err := checkCollName(name); err != nil {
				return nil, c.errorf(ckey+".coll", "%v", err)
			}
			if rule.colls[name] {
				return nil, c.errorf(ckey+".coll", "collection %q is listed twice", name)
			}
			rule.colls[name] = true
			if len(cl.Fields) > 0 {
				var fs []string
				for _, f := range cl.Fields {
					f = strings.TrimSpace(f)
					if f == "" || strings.HasPrefix(f, "$") {
						return nil, c.errorf(ckey+".fields", "%q is not a field name", f)
					}
					if f != "_id" {
						fs = append(fs, f)
					}
				}
				n.fields[db+"."+name] = fs
			}
		}
		n.dbs[db] = rule
	}
	return n, nil
}

func checkDBName(s string) error {
	if s == "" {
		return fmt.Errorf("database name is empty")
	}
	if strings.ContainsAny(s, "/\\. \"$*<>:|?\x00") || len(s) > 63 {
		return fmt.Errorf("%q is not a valid database name", s)
	}
	return nil
}

func checkCollName(s string) error {
	if s == "" {
		return fmt.Errorf("collection name is empty")
	}
	if strings.ContainsAny(s, "$\x00") {
		return fmt.Errorf("%q is not a valid collection name", s)
	}
	return nil
}

// SplitNS splits "db.coll" at the first dot.
func SplitNS(ns string) (db, coll string) {
	db, coll, _ = strings.Cut(ns, ".")
	return db, coll
}

// Selected reports whether the source collection db.coll is synced.
func (n *Namespaces) Selected(db, coll string) bool {
	if Internal(db, coll) {
		return false
	}
	if n.all {
		return true
	}
	r, ok := n.dbs[db]
	if !ok {
		return false
	}
	return r.all || r.colls[coll] || tempSelected(db, coll, r.colls)
}

// tempSelected is the rule for a temporary collection (TempOutput) of a
// database whose selected collections are the keys of colls: convertToCapped's
// goes with the collection its name ends with (CappedTarget), any other with
// its database.
func tempSelected[V any](db, coll string, colls map[string]V) bool {
	target, ok := CappedTarget(coll)
	if !ok {
		return TempOutput(coll)
	}
	if _, named := colls[target]; named {
		return true
	}
	// mongod before 5.0 cut a temporary collection's name to its namespace
	// limit (120 bytes before 4.4, src/mongo/db/catalog/database_impl.cpp
	// makeUniqueCollectionNamespace): target may be the start of a name.
	if len(db)+1+len(coll) < 120 {
		return false
	}
	for c := range colls {
		if strings.HasPrefix(c, target) {
			return true
		}
	}
	return false
}

// TempOutput reports the temporary collections $out and mapReduce write
// their result to before renaming it over the target (tmp.agg_out.<uuid>,
// tmp.mr.<name>), the one a rename across databases copies into
// (tmp<5 chars>.renameCollection) and the one convertToCapped copies into
// (CappedCopy). They are synced with any selected collection of their
// database, or the rename that ends the stage would come from a collection
// whose documents were never synced; convertToCapped's, whose name says
// which collection it becomes, only with that one (Namespaces.Selected),
// so a collection left out of the sync is not copied to the destination
// on its way to being capped.
func TempOutput(coll string) bool {
	return strings.HasPrefix(coll, "tmp.agg_out.") || strings.HasPrefix(coll, "tmp.mr.") ||
		(strings.HasPrefix(coll, "tmp") && strings.HasSuffix(coll, ".renameCollection")) || CappedCopy(coll)
}

// CappedTarget is the collection convertToCapped converts, read from the
// name of the temporary collection it copies it into (CappedCopy).
func CappedTarget(coll string) (string, bool) {
	if !CappedCopy(coll) {
		return "", false
	}
	_, target, _ := strings.Cut(coll, ".convertToCapped.")
	return target, true
}

// CappedCopy reports the temporary collection convertToCapped copies a
// collection into before renaming it over the original:
// tmp<5 chars>.convertToCapped.<name> (4.2 on), tmp.convertToCapped.<name>
// before. Its inserts are logged with fromMigrate: true
// (mongodb/mongo src/mongo/db/catalog/capped_utils.cpp,
// cloneCollectionAsCapped), on a replica set as on every shard, yet they
// are the only record of the converted collection's documents: they are
// kept where a chunk migration's fromMigrate writes are skipped.
func CappedCopy(coll string) bool {
	rest, ok := strings.CutPrefix(coll, "tmp")
	if !ok {
		return false
	}
	i := strings.Index(rest, ".convertToCapped.")
	if i < 0 {
		return false
	}
	// Five letters or digits mongod picks (4.2 on), or none (before).
	if i != 0 && i != 5 {
		return false
	}
	for _, r := range rest[:i] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// DBSelected reports whether any collection of db may be synced.
func (n *Namespaces) DBSelected(db string) bool {
	if Internal(db, "") {
		return false
	}
	_, ok := n.dbs[db]
	return n.all || ok
}

// DBs lists the selected source databases, or nil when all are selected.
func (n *Namespaces) DBs() []string {
	if n.all {
		return nil
	}
	out := make([]string, 0, len(n.dbs))
	for db := range n.dbs {
		out = append(out, db)
	}
	return out
}

// MapDB is the destination name of source database db.
func (n *Namespaces) MapDB(db string) string {
	if r, ok := n.dbs[db]; ok && r.rename != "" {
		return r.rename
	}
	return db
}

// MapNS is the destination namespace of source namespace ns.
func (n *Namespaces) MapNS(ns string) string {
	db, coll := SplitNS(ns)
	return n.MapDB(db) + "." + coll
}

// Fields lists the fields kept for source namespace ns (besides _id), or nil
// when the whole document is synced. convertToCapped's copies keep those of
// the collection they become.
func (n *Namespaces) Fields(ns string) []string {
	if db, coll := SplitNS(ns); CappedCopy(coll) {
		target, _ := CappedTarget(coll)
		return n.fields[db+"."+target]
	}
	return n.fields[ns]
}
