package pipeline

import (
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
)

// What the copy of an addition copies, by name and by the catalog's
// record of the collection's UUID.
func TestToCopy(t *testing.T) {
	before, err := config.ParseSelection(`{"dbs":{"shop":{"all":true},"crm":{"rename":"crm2","all":true}}}`)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]string{
		"u-late":    "shop.late",   // created in shop since the first copy: the applier's
		"u-renamed": "crm2.people", // renamed from crm into the added blog since: the applier's to move
		"u-started": "blog.posts",  // this addition's copy began, then stopped: resumed
		"u-stale":   "x.c",         // a record from before x was removed: copied afresh
	}
	for _, c := range []struct {
		ns   string
		uuid string
		want bool
	}{
		{"shop.late", "u-late", false},
		{"shop.orders", "", false},
		{"blog.people", "u-renamed", false},
		{"blog.posts", "u-started", true},
		{"blog.tags", "u-new", true},
		{"blog.view", "", true},
		{"a.c", "u-stale", true},
	} {
		var uuid []byte
		if c.uuid != "" {
			uuid = []byte(c.uuid)
		}
		if got := toCopy(before, known, c.ns, uuid); got != c.want {
			t.Errorf("%s (uuid %q): copy %v, want %v", c.ns, c.uuid, got, c.want)
		}
	}
}
