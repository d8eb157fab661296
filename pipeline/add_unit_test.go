package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/store"
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

// A rename from an added collection into one synced before, met by the
// applier of the rest: the join is refused when the addition's copy never
// read the renamed collection (its UUID is not in the catalog), since the
// documents it held before the addition would be lost under the synced
// name; it goes on when the copy read it, or for a rename the other way.
func TestRenamedBeforeItsCopy(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	copied, never := []byte("copied-uuid-0001"), []byte("never-copied-001")
	if err := st.SetCollection(copied, "shop.extra"); err != nil {
		t.Fatal(err)
	}
	log := testlog.Quiet()
	join := func(fromHeld bool, ui []byte) *translate.JoinError {
		return &translate.JoinError{Seq: 9, What: "renameCollection shop.extra -> shop.orders crosses between the two sides", FromHeld: fromHeld, UI: ui}
	}
	if err := renamedBeforeItsCopy(join(true, never), st, log); err == nil || !strings.Contains(err.Error(), "before the addition's copy read it") {
		t.Errorf("a collection renamed before the copy read it: %v, want the join refused", err)
	}
	for _, ok := range []*translate.JoinError{nil, join(true, copied), join(false, never), join(true, nil)} {
		if err := renamedBeforeItsCopy(ok, st, log); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
