package config

import "testing"

func TestTempOutput_SelectedWithTheirDatabase(t *testing.T) {
	cfg := Default()
	cfg.Sync.DBs = []DB{{DB: "shop", Colls: []Coll{{Coll: "out"}}}}
	n := cfg.Namespaces()
	for coll, want := range map[string]bool{
		"out": true, "tmp.agg_out.6f1c": true, "tmp.mr.orders": true, "tmpAbC12.renameCollection": true,
		"tmpAbC12.convertToCapped.orders": true, "tmp.convertToCapped.orders": true,
		"orders": false, "tmp": false, "tmp.other": false, "tmpA.b.convertToCapped.orders": false,
	} {
		if got := n.Selected("shop", coll); got != want {
			t.Errorf("Selected(shop, %s) = %v, want %v", coll, got, want)
		}
	}
	if n.Selected("other", "tmp.agg_out.6f1c") {
		t.Error("a temporary collection of an unselected database is selected")
	}
}
