package config

import (
	"reflect"
	"strings"
	"testing"
)

func nsOf(t *testing.T, dbs ...DB) *Namespaces {
	t.Helper()
	c := &Config{Sync: Sync{DBs: dbs}}
	n, err := c.buildNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSelection_RoundTrip(t *testing.T) {
	n := nsOf(t, DB{DB: "blog", RenameDB: "blog2", Colls: []Coll{{Coll: "posts", Fields: []string{"title", "_id"}}, {Coll: "tags"}}}, DB{DB: "shop"})
	text := n.Selection().String()
	want := `{"dbs":{"blog":{"rename":"blog2","colls":{"posts":["title"],"tags":null}},"shop":{"all":true}}}`
	if text != want {
		t.Fatalf("selection %s\nwant      %s", text, want)
	}
	back, err := ParseSelection(text)
	if err != nil {
		t.Fatal(err)
	}
	if c := CompareSelection(back, n.Selection()); !c.Empty() {
		t.Fatalf("a selection compared with itself after a round trip: %+v", c)
	}
}

func TestCompareSelection(t *testing.T) {
	all := nsOf(t).Selection()
	shop := nsOf(t, DB{DB: "shop"}).Selection()
	shopBlog := nsOf(t, DB{DB: "shop"}, DB{DB: "blog"}).Selection()
	shopOrders := nsOf(t, DB{DB: "shop", Colls: []Coll{{Coll: "orders"}}}).Selection()
	shopOrdersFields := nsOf(t, DB{DB: "shop", Colls: []Coll{{Coll: "orders", Fields: []string{"a"}}}}).Selection()
	shopRenamed := nsOf(t, DB{DB: "shop", RenameDB: "shop2"}).Selection()
	for _, c := range []struct {
		name        string
		before, now Selection
		want        SelectionChange
	}{
		{"same", shop, shop, SelectionChange{}},
		{"all to all", all, all, SelectionChange{}},
		{"database added", shop, shopBlog, SelectionChange{Added: []string{"blog"}}},
		{"database removed", shopBlog, shop, SelectionChange{Removed: []string{"blog"}}},
		{"all narrowed", all, shop, SelectionChange{Removed: []string{"every database but shop"}}},
		{"all widened", shop, all, SelectionChange{Added: []string{"every database but shop"}}},
		{"collections narrowed", shop, shopOrders, SelectionChange{Removed: []string{"every collection of shop but orders"}}},
		{"collections widened", shopOrders, shop, SelectionChange{Added: []string{"every collection of shop but orders"}}},
		{"fields added", shopOrders, shopOrdersFields, SelectionChange{Changed: []string{"shop.orders (fields [a], was [])"}}},
		{"fields removed", shopOrdersFields, shopOrders, SelectionChange{Changed: []string{"shop.orders (fields [], was [a])"}}},
		{"renamed", shop, shopRenamed, SelectionChange{Changed: []string{`shop (rename_db "shop2", was "")`}}},
	} {
		got := CompareSelection(c.before, c.now)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestNamespaces_Overlap(t *testing.T) {
	for _, c := range []struct {
		name string
		dbs  []DB
		want []string
	}{
		{"every database", nil, []string{"every database (sync.dbs is empty)"}},
		{"blog to blog2", []DB{{DB: "blog", RenameDB: "blog2"}}, nil},
		{"blog to itself", []DB{{DB: "blog"}}, []string{"blog (its destination database blog is selected too)"}},
		{"one collection to itself", []DB{{DB: "blog", Colls: []Coll{{Coll: "posts"}}}}, []string{"blog.posts (its destination blog.posts is selected too)"}},
		{"a to b while b is read", []DB{{DB: "a", RenameDB: "b"}, {DB: "b", RenameDB: "c"}}, []string{"a (its destination database b is selected too)"}},
		{"disjoint collections", []DB{{DB: "a", RenameDB: "b", Colls: []Coll{{Coll: "x"}}}, {DB: "b", RenameDB: "c", Colls: []Coll{{Coll: "y"}}}}, nil},
	} {
		if got := nsOf(t, c.dbs...).Overlap(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestNamespaces_ReservedDatabase(t *testing.T) {
	if !Internal(ReservedDB, "deployment") {
		t.Fatal("the reserved database is not internal: a destination that is another sync's source would pass its marker on")
	}
	c := &Config{Sync: Sync{DBs: []DB{{DB: "x", RenameDB: ReservedDB}}}}
	if _, err := c.buildNamespaces(); err == nil {
		t.Fatal("rename_db into the reserved database accepted")
	}
}

// A selection read back from a state file selects what the config it was
// recorded from selected, collection by collection.
func TestSelection_SelectsAsTheNamespaces(t *testing.T) {
	for _, n := range []*Namespaces{
		nsOf(t, DB{DB: "blog", RenameDB: "blog2", Colls: []Coll{{Coll: "posts", Fields: []string{"title"}}, {Coll: "tags"}}}, DB{DB: "shop"}),
		nsOf(t),
	} {
		back, err := ParseSelection(n.Selection().String())
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range [][2]string{{"blog", "posts"}, {"blog", "tags"}, {"blog", "drafts"}, {"blog", "tmp.agg_out.1"},
			{"shop", "orders"}, {"shop", "system.views"}, {"shop", "system.profile"}, {"crm", "people"}, {"admin", "x"}, {"mongo_sync", "deployment"}} {
			if got, want := back.Selects(ns[0], ns[1]), n.Selected(ns[0], ns[1]); got != want {
				t.Errorf("%s.%s: recorded selection says %v, the namespaces %v", ns[0], ns[1], got, want)
			}
		}
	}
}

// An empty sync.dbs (every database, whole documents, unrenamed) is a
// change of every database that was renamed or projected, not an addition
// alone: accepted as one, the renamed database's writes went to its source
// name while its copy stayed under the old one.
func TestCompareSelection_EveryDatabaseChangesRenamesAndFields(t *testing.T) {
	named := nsOf(t, DB{DB: "a", RenameDB: "x"}, DB{DB: "b", Colls: []Coll{{Coll: "c", Fields: []string{"f"}}}}, DB{DB: "d"}).Selection()
	all := nsOf(t).Selection()
	for _, c := range []SelectionChange{CompareSelection(named, all), CompareSelection(all, named)} {
		if got := strings.Join(c.Changed, "; "); !strings.Contains(got, `a (rename_db "x"`) || !strings.Contains(got, "b.c (fields [f]") || strings.Contains(got, "d ") {
			t.Errorf("changed: %q; want a's rename and b.c's fields, not d", got)
		}
	}
}
