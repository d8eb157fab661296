package config

// Addition is a selection that grew: the namespaces selected now (Now) and
// not by the selection a state file recorded before (Before) are added,
// and copied while the rest goes on being applied. It answers, for each
// side of the addition, which namespaces are its, which is what the two
// appliers of an online addition hold back from each other (package
// pipeline): Added's side holds back the added namespaces, Added.Inverse's
// everything else.
type Addition struct {
	Now    *Namespaces
	Before Selection
	// inverse: the side that applies the added namespaces only.
	inverse bool
}

// NewAddition is the addition of now over before.
func NewAddition(now *Namespaces, before Selection) *Addition {
	return &Addition{Now: now, Before: before}
}

// Inverse is the other side of a: what it holds, a applies, and back.
func (a *Addition) Inverse() *Addition {
	return &Addition{Now: a.Now, Before: a.Before, inverse: !a.inverse}
}

// Added reports whether source collection db.coll is selected now and was
// not before.
func (a *Addition) Added(db, coll string) bool {
	return a.Now.Selected(db, coll) && !a.Before.Selects(db, coll)
}

// Held reports whether this side holds back source collection db.coll: an
// added one (the other side's, when inverse), selected now.
func (a *Addition) Held(db, coll string) bool {
	if !a.Now.Selected(db, coll) {
		return false
	}
	return a.Added(db, coll) != a.inverse
}

// HeldIn reports whether some collection this side holds back may be in
// source database db.
func (a *Addition) HeldIn(db string) bool {
	if a.inverse {
		return a.keptIn(db)
	}
	return a.addedIn(db)
}

// KeptIn reports whether some collection this side applies may be in
// source database db.
func (a *Addition) KeptIn(db string) bool {
	if a.inverse {
		return a.addedIn(db)
	}
	return a.keptIn(db)
}

// addedIn: db selected now, and now selects a collection of it that the
// selection before did not.
func (a *Addition) addedIn(db string) bool {
	if !a.Now.DBSelected(db) {
		return false
	}
	before, had := a.Before.DBs[db]
	if a.Before.All || (had && before.All) {
		return false
	}
	r := a.Now.dbs[db]
	if a.Now.all || r.all || !had {
		return true
	}
	for c := range r.colls {
		if !a.Before.Selects(db, c) {
			return true
		}
	}
	return false
}

// keptIn: db selected now and before.
func (a *Addition) keptIn(db string) bool {
	if !a.Now.DBSelected(db) {
		return false
	}
	_, had := a.Before.DBs[db]
	return a.Before.All || had
}

// HeldDest reports whether destination namespace ns is where a collection
// this side holds back is synced to.
func (a *Addition) HeldDest(ns string) bool {
	for _, src := range a.Now.Sources(ns) {
		if db, coll := SplitNS(src); a.Held(db, coll) {
			return true
		}
	}
	return false
}

// Sources lists the source namespaces whose documents the sync puts at
// destination namespace ns (one, unless renames make several databases
// meet; none when nothing is synced there).
func (n *Namespaces) Sources(ns string) []string {
	dstDB, coll := SplitNS(ns)
	if n.all {
		if n.Selected(dstDB, coll) {
			return []string{ns}
		}
		return nil
	}
	var out []string
	for db := range n.dbs {
		if n.MapDB(db) == dstDB && n.Selected(db, coll) {
			out = append(out, db+"."+coll)
		}
	}
	return out
}
