package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Selection is what a sync selects, in a canonical form that a state file
// records and a later start compares with its config (DESIGN.md, invariant
// 9): every database (All), or the listed ones with their rename, their
// collections (all, or the named ones) and the fields kept of each.
type Selection struct {
	All bool                  `json:"all,omitempty"`
	DBs map[string]SelectedDB `json:"dbs,omitempty"`
}

// SelectedDB is one database of a Selection.
type SelectedDB struct {
	Rename string              `json:"rename,omitempty"`
	All    bool                `json:"all,omitempty"`
	Colls  map[string][]string `json:"colls,omitempty"` // collection -> fields kept (nil: whole documents)
}

// Selection returns n's canonical selection.
func (n *Namespaces) Selection() Selection {
	s := Selection{All: n.all}
	if n.all {
		return s
	}
	s.DBs = map[string]SelectedDB{}
	for db, r := range n.dbs {
		d := SelectedDB{Rename: r.rename, All: r.all}
		if len(r.colls) > 0 {
			d.Colls = map[string][]string{}
			for c := range r.colls {
				fs := append([]string(nil), n.fields[db+"."+c]...)
				sort.Strings(fs) // the order fields are listed in changes nothing
				d.Colls[c] = fs
			}
		}
		s.DBs[db] = d
	}
	return s
}

// String is the selection as JSON with sorted keys: the form a state file
// records.
func (s Selection) String() string {
	b, err := json.Marshal(s) // maps marshal with sorted keys
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ParseSelection reads a Selection recorded by String.
func ParseSelection(text string) (Selection, error) {
	var s Selection
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return s, fmt.Errorf("recorded selection %q: %w", text, err)
	}
	return s, nil
}

// Selects reports whether s selected collection coll of db, by the rule of
// Namespaces.Selected: a recorded selection read back from a state file.
func (s Selection) Selects(db, coll string) bool {
	if Internal(db, coll) {
		return false
	}
	if s.All {
		return true
	}
	d, ok := s.DBs[db]
	if !ok {
		return false
	}
	_, named := d.Colls[coll]
	return d.All || named || tempSelected(db, coll, d.Colls)
}

// SelectionChange is how a config's selection differs from the one a
// state file recorded. Each list names databases ("db"), collections
// ("db.coll") or "every database" / "every collection of db".
type SelectionChange struct {
	Added   []string // selected now, not before: they would need a copy
	Removed []string // selected before, not now: no longer applied
	Changed []string // selected in both, with another rename or field list
}

// Empty reports no change.
func (c SelectionChange) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// CompareSelection tells how now differs from before.
func CompareSelection(before, now Selection) SelectionChange {
	var c SelectionChange
	switch {
	case before.All && now.All:
		return c
	case before.All:
		c.Removed = append(c.Removed, "every database but "+strings.Join(sortedKeys(now.DBs), ", "))
		for _, db := range sortedKeys(now.DBs) {
			unlike(db, now.DBs[db], "was every database as it is", &c)
		}
		return c
	case now.All:
		c.Added = append(c.Added, "every database but "+strings.Join(sortedKeys(before.DBs), ", "))
		for _, db := range sortedKeys(before.DBs) {
			unlike(db, before.DBs[db], "now every database as it is", &c)
		}
		return c
	}
	for _, db := range sortedKeys(now.DBs) {
		if _, ok := before.DBs[db]; !ok {
			c.Added = append(c.Added, db)
		}
	}
	for _, db := range sortedKeys(before.DBs) {
		b := before.DBs[db]
		n, ok := now.DBs[db]
		if !ok {
			c.Removed = append(c.Removed, db)
			continue
		}
		if b.Rename != n.Rename {
			c.Changed = append(c.Changed, fmt.Sprintf("%s (rename_db %q, was %q)", db, n.Rename, b.Rename))
			continue
		}
		compareColls(db, b, n, &c)
	}
	return c
}

// unlike records as Changed what an empty sync.dbs (every database, whole
// documents, unrenamed) changes of db as d selects it: its rename_db, its
// field lists.
func unlike(db string, d SelectedDB, other string, c *SelectionChange) {
	if d.Rename != "" && d.Rename != db {
		c.Changed = append(c.Changed, fmt.Sprintf("%s (rename_db %q, %s)", db, d.Rename, other))
	}
	for _, coll := range sortedKeys(d.Colls) {
		if len(d.Colls[coll]) > 0 {
			c.Changed = append(c.Changed, fmt.Sprintf("%s.%s (fields %v, %s)", db, coll, d.Colls[coll], other))
		}
	}
}

func compareColls(db string, b, n SelectedDB, c *SelectionChange) {
	switch {
	case b.All && !n.All:
		// Named collections keep their field lists only when whole
		// documents were synced before: a projection now is a change.
		for _, coll := range sortedKeys(n.Colls) {
			if len(n.Colls[coll]) > 0 {
				c.Changed = append(c.Changed, fmt.Sprintf("%s.%s (fields %v, was whole documents)", db, coll, n.Colls[coll]))
			}
		}
		c.Removed = append(c.Removed, "every collection of "+db+" but "+strings.Join(sortedKeys(n.Colls), ", "))
		return
	case !b.All && n.All:
		c.Added = append(c.Added, "every collection of "+db+" but "+strings.Join(sortedKeys(b.Colls), ", "))
	}
	for _, coll := range sortedKeys(n.Colls) {
		bf, ok := b.Colls[coll]
		if !ok {
			if !b.All {
				c.Added = append(c.Added, db+"."+coll)
			}
			continue
		}
		if strings.Join(bf, ",") != strings.Join(n.Colls[coll], ",") {
			c.Changed = append(c.Changed, fmt.Sprintf("%s.%s (fields %v, was %v)", db, coll, n.Colls[coll], bf))
		}
	}
	for _, coll := range sortedKeys(b.Colls) {
		if _, ok := n.Colls[coll]; !ok && !n.All {
			c.Removed = append(c.Removed, db+"."+coll)
		} else if !ok && n.All && len(b.Colls[coll]) > 0 {
			c.Changed = append(c.Changed, fmt.Sprintf("%s.%s (whole documents, was fields %v)", db, coll, b.Colls[coll]))
		}
	}
}

// Overlap lists what a sync within one deployment would both read and
// write: selected source namespaces ("db" or "db.coll", or "every
// database") whose destination namespace is selected on the source too.
// Copying blog to blog2 inside one deployment has none.
func (n *Namespaces) Overlap() []string {
	if n.all {
		return []string{"every database (sync.dbs is empty)"}
	}
	var out []string
	for _, db := range sortedKeys(n.dbs) {
		r := n.dbs[db]
		target := n.MapDB(db)
		t, ok := n.dbs[target]
		if !ok {
			continue
		}
		switch {
		case r.all || t.all:
			out = append(out, fmt.Sprintf("%s (its destination database %s is selected too)", db, target))
		default:
			for _, coll := range sortedKeys(r.colls) {
				if t.colls[coll] {
					out = append(out, fmt.Sprintf("%s.%s (its destination %s.%s is selected too)", db, coll, target, coll))
				}
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
