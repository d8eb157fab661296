package store

import (
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestStore_ForgetNamespaces(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bounds, _ := bson.Marshal(bson.D{{Key: "0", Value: 5}})
	for _, ns := range []string{"shop.posts", "shop.posts2", "blog.posts"} {
		for _, err := range []error{s.SetCollDone(ns), s.SetRangeDone(ns, 0), s.SetRangeDone(ns, 12), s.SetSplit(ns, bounds)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for u, ns := range map[string]string{"u1": "shop2.posts", "u2": "shop2.posts2", "u3": "blog.posts"} {
		if err := s.SetCollection([]byte(u), ns); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.ForgetNamespaces(func(ns string) bool { return ns == "shop.posts" }, func(ns string) bool { return ns == "shop2.posts" })
	if err != nil || n != 5 {
		t.Fatalf("forgot %d records (%v), want 4 copy marks and 1 collection", n, err)
	}
	if s.CollDone("shop.posts") || s.RangeDone("shop.posts", 0) || s.RangeDone("shop.posts", 12) {
		t.Error("shop.posts' copy marks are still there")
	}
	if _, ok := s.Split("shop.posts"); ok {
		t.Error("shop.posts' split is still there")
	}
	if !s.CollDone("shop.posts2") || !s.RangeDone("shop.posts2", 12) || !s.CollDone("blog.posts") {
		t.Error("another namespace's copy marks went too")
	}
	m, err := s.Collections()
	if err != nil || len(m) != 2 || m["u1"] != "" {
		t.Errorf("catalog after: %v (%v), want u2 and u3 only", m, err)
	}
}
