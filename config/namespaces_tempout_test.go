package config

import (
	"slices"
	"strings"
	"testing"
)

func TestTempOutput_SelectedWithTheirDatabase(t *testing.T) {
	cfg := Default()
	cfg.Sync.DBs = []DB{{DB: "shop", Colls: []Coll{{Coll: "out"}, {Coll: "c", Fields: []string{"a"}}}}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	n := cfg.Namespaces()
	sel := n.Selection()
	long := strings.Repeat("x", 110) // a name mongod before 5.0 cut short
	cfg2 := Default()
	cfg2.Sync.DBs = []DB{{DB: "shop", Colls: []Coll{{Coll: long}}}}
	if err := cfg2.Finish(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    *Namespaces
		coll string
		want bool
	}{
		{n, "out", true}, {n, "tmp.agg_out.6f1c", true}, {n, "tmp.mr.orders", true}, {n, "tmpAbC12.renameCollection", true},
		// convertToCapped's copy goes with the collection it becomes.
		{n, "tmpAbC12.convertToCapped.c", true}, {n, "tmp.convertToCapped.c", true},
		{n, "tmpAbC12.convertToCapped.orders", false}, {n, "tmp.convertToCapped.orders", false},
		{n, "tmpAbC12.convertToCapped.cc", false},
		{n, "orders", false}, {n, "tmp", false}, {n, "tmp.other", false}, {n, "tmpA.b.convertToCapped.c", false}, {n, "tmpfoo.convertToCapped.c", false}, {n, "tmpAbC1!.convertToCapped.c", false},
		// Cut to 120 bytes (shop. + 115): the start of the selected name.
		{cfg2.Namespaces(), ("tmpAbC12.convertToCapped." + long)[:115], true},
		{cfg2.Namespaces(), "tmpAbC12.convertToCapped." + long[:50], false},
	} {
		if got := tc.n.Selected("shop", tc.coll); got != tc.want {
			t.Errorf("Selected(shop, %s) = %v, want %v", tc.coll, got, tc.want)
		}
		if tc.n == n {
			if got := sel.Selects("shop", tc.coll); got != tc.want {
				t.Errorf("recorded Selects(shop, %s) = %v, want %v", tc.coll, got, tc.want)
			}
		}
	}
	if n.Selected("other", "tmp.agg_out.6f1c") {
		t.Error("a temporary collection of an unselected database is selected")
	}
	if got := n.Fields("shop.tmpAbC12.convertToCapped.c"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Fields of convertToCapped's copy of shop.c = %v, want shop.c's [a]", got)
	}
	if got := n.Fields("shop.tmp.agg_out.6f1c"); got != nil {
		t.Errorf("Fields(shop.tmp.agg_out.6f1c) = %v, want nil", got)
	}
}
