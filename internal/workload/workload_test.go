package workload

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestWorkload_RunsEveryKindAgainstTheTestServer checks that the source
// accepts every kind of write and that the workload's own view of the
// data (which documents exist, which _id type, which account holds which
// email) matches the server's.
func TestWorkload_RunsEveryKindAgainstTheTestServer(t *testing.T) {
	src := testmongo.StartSource(t)
	ctx := context.Background()
	w := New(src.Client(), Options{Seed: 7, Rate: 300})
	if err := w.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	stop := w.Start(ctx)
	time.Sleep(3 * time.Second)
	c := stop()
	t.Logf("workload: %s", c)
	for _, kind := range []string{"docs.set_dotted", "docs.set_type", "docs.replace", "docs.delete", "accounts.reinsert_email", "accounts.swap_email",
		"lists.push", "lists.pop", "lists.set_array", "nums.update_as_", "nums.reinsert_"} {
		n := 0
		for k, v := range c.Ops {
			if strings.HasPrefix(k, kind) {
				n += v
			}
		}
		if n == 0 {
			t.Errorf("no %s in %s", kind, c)
		}
	}
	for k, e := range c.Errors {
		t.Errorf("the source refused %d %s writes (last: %s)", e, k, c.LastError)
	}
	if err := c.Err(); err != nil || c.Preloaded == 0 {
		t.Errorf("%v; preload made %d operations", err, c.Preloaded)
	}
	db := src.Client().Database("hostile")
	for v, typ := range w.nums {
		var d bson.Raw
		if err := db.Collection("nums").FindOne(ctx, bson.D{{Key: "v", Value: v}}).Decode(&d); err != nil {
			t.Fatalf("nums %d: %v", v, err)
		}
		if got := d.Lookup("_id").Type; got != []bson.Type{bson.TypeInt32, bson.TypeInt64, bson.TypeDouble}[typ] {
			t.Errorf("nums %d: _id is %s, the workload stored %s", v, got, numTypes[typ])
		}
	}
	for email, id := range w.owner {
		var d bson.Raw
		if err := db.Collection("accounts").FindOne(ctx, bson.D{{Key: "email", Value: email}}).Decode(&d); err != nil {
			t.Fatalf("account with %s: %v", email, err)
		}
		if got, _ := d.Lookup("_id").AsInt64OK(); got != int64(id) {
			t.Errorf("%s is held by %v, the workload gave it to %d", email, d.Lookup("_id"), id)
		}
	}
}

// An empty load, or one the source refused, is an error: the tests that
// run a load require Err to be nil, so a load that wrote nothing cannot
// pass for one that did.
func TestCounts_Err(t *testing.T) {
	for _, c := range []struct {
		name   string
		counts Counts
		ok     bool
	}{
		{"nothing at all", Counts{}, false},
		{"only the preload", Counts{Ops: map[string]int{"docs.insert": 20}, Preloaded: 20}, false},
		{"a load", Counts{Ops: map[string]int{"docs.insert": 20, "docs.replace": 3}, Preloaded: 20}, true},
		{"a refused write", Counts{Ops: map[string]int{"docs.insert": 20, "docs.replace": 3}, Errors: map[string]int{"docs.replace": 1},
			LastError: "docs.replace: boom", Preloaded: 20}, false},
	} {
		if err := c.counts.Err(); (err == nil) != c.ok {
			t.Errorf("%s: Err() = %v, want ok %v", c.name, err, c.ok)
		}
	}
	c := Counts{Ops: map[string]int{"docs.insert": 20, "docs.replace": 3}, Errors: map[string]int{"docs.replace": 1}, Preloaded: 20}
	if c.Applied() != 2 || c.Failed() != 1 {
		t.Errorf("Applied %d, Failed %d; want 2 and 1", c.Applied(), c.Failed())
	}
}
