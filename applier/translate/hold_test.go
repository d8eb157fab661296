package translate

import (
	"errors"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestTranslate_HoldSplitsAnAddition: the two sides of an online addition
// (shop synced before with orders and moved; now all of shop, and blog).
// Each side applies its own namespaces' entries, passes over the other's,
// and stops with a JoinError at an entry that names both: a rename between
// them (mongod's shape, op_observer_impl.cpp onRenameCollection) or a
// dropDatabase of a database with both.
func TestTranslate_HoldSplitsAnAddition(t *testing.T) {
	c := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop"}, {DB: "blog"}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	before := config.Selection{DBs: map[string]config.SelectedDB{"shop": {Colls: map[string][]string{"orders": nil, "moved": nil}}}}
	hold := config.NewAddition(c.Namespaces(), before)
	ins := func(ns string) bson.Raw {
		return bsontest.Raw(t, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: ns}, {Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}})
	}
	cmd := func(ns string, o bson.D) bson.Raw {
		return bsontest.Raw(t, bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: ns}, {Key: "o", Value: o}})
	}
	rename := func(from, to string) bson.Raw {
		return cmd("shop.$cmd", bson.D{{Key: "renameCollection", Value: from}, {Key: "to", Value: to}, {Key: "stayTemp", Value: false}})
	}
	const applied, passed, join = "applied", "passed over", "join"
	for _, side := range []struct {
		name string
		hold *config.Addition
		want map[string]string
	}{
		{"the rest", hold, map[string]string{
			"insert shop.orders": applied, "insert shop.extra": passed, "insert blog.posts": passed,
			"create shop.extra": passed, "drop shop.moved": applied,
			"rename shop.moved -> shop.target": join, "rename shop.extra -> shop.orders": join,
			"rename shop.extra -> shop.target": passed, "rename shop.moved -> shop.orders": applied,
			"dropDatabase shop": join, "dropDatabase blog": passed,
		}},
		{"the added", hold.Inverse(), map[string]string{
			"insert shop.orders": passed, "insert shop.extra": applied, "insert blog.posts": applied,
			"create shop.extra": applied, "drop shop.moved": passed,
			"rename shop.moved -> shop.target": join, "rename shop.extra -> shop.orders": join,
			"rename shop.extra -> shop.target": applied, "rename shop.moved -> shop.orders": passed,
			"dropDatabase shop": join, "dropDatabase blog": applied,
		}},
	} {
		entries := map[string]bson.Raw{
			"insert shop.orders":               ins("shop.orders"),
			"insert shop.extra":                ins("shop.extra"),
			"insert blog.posts":                ins("blog.posts"),
			"create shop.extra":                cmd("shop.$cmd", bson.D{{Key: "create", Value: "extra"}}),
			"drop shop.moved":                  cmd("shop.$cmd", bson.D{{Key: "drop", Value: "moved"}}),
			"rename shop.moved -> shop.target": rename("shop.moved", "shop.target"),
			"rename shop.extra -> shop.orders": rename("shop.extra", "shop.orders"),
			"rename shop.extra -> shop.target": rename("shop.extra", "shop.target"),
			"rename shop.moved -> shop.orders": rename("shop.moved", "shop.orders"),
			"dropDatabase shop":                cmd("shop.$cmd", bson.D{{Key: "dropDatabase", Value: 1}}),
			"dropDatabase blog":                cmd("blog.$cmd", bson.D{{Key: "dropDatabase", Value: 1}}),
		}
		for what, e := range entries {
			tr := NewTranslator(c.Namespaces())
			tr.Hold = side.hold
			ops, err := tr.AppendOps(nil, 7, bson.Timestamp{T: 1}, e)
			got := applied
			var j *JoinError
			switch {
			case errors.As(err, &j):
				got = join
				// From the held side into the applied one: the renamed
				// collection is the held side's (pipeline checks its copy).
				fromHeld := what == map[string]string{"the rest": "rename shop.extra -> shop.orders", "the added": "rename shop.moved -> shop.target"}[side.name]
				if j.FromHeld != fromHeld {
					t.Errorf("%s: %s: FromHeld %v, want %v", side.name, what, j.FromHeld, fromHeld)
				}
			case err != nil:
				t.Fatalf("%s, %s: %v", side.name, what, err)
			case len(ops) == 0:
				got = passed
			}
			if got != side.want[what] {
				t.Errorf("%s: %s was %s, want %s", side.name, what, got, side.want[what])
			}
		}
	}
}
