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
