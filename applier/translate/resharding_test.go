package translate

import (
	"context"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// reshCatalog is a memCatalog that also keeps reshardings under way, as
// store.Store does.
type reshCatalog struct {
	memCatalog
	under map[string]bool
}

func (c *reshCatalog) SetResharding(orig, temp []byte) error {
	c.under[string(orig)] = true
	return nil
}
func (c *reshCatalog) EndResharding(orig []byte) error { delete(c.under, string(orig)); return nil }
func (c *reshCatalog) Reshardings() (map[string]bool, error) {
	out := map[string]bool{}
	for k := range c.under {
		out[k] = true
	}
	return out, nil
}

// TestTranslate_ReshardingRecordedUntilRenamedOrDropped: a recipient's
// create of db.system.resharding.<UUID> records the resharding of the
// collection of that UUID in the shard's state file; its rename over the
// original or its drop (an abort) ends it, in the plain (5.0 era) and the
// fromMigrate (later) forms (resharding.go cites both), and nothing of it
// is sent to the destination.
func TestTranslate_ReshardingRecordedUntilRenamedOrDropped(t *testing.T) {
	orig, temp := uuid(1), uuid(2)
	tempColl := "system.resharding.01010101-0101-0101-0101-010101010101"
	cmd := func(o bson.D, fromMigrate bool) bson.Raw {
		e := bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "db.$cmd"}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: temp}}, {Key: "o", Value: o}}
		if fromMigrate {
			e = append(e, bson.E{Key: "fromMigrate", Value: true})
		}
		return bsontest.Raw(t, e)
	}
	create := cmd(bson.D{{Key: "create", Value: tempColl}}, false)
	rename := bson.D{{Key: "renameCollection", Value: "db." + tempColl}, {Key: "to", Value: "db.c"},
		{Key: "stayTemp", Value: false}, {Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: orig}}}
	drop := bson.D{{Key: "drop", Value: tempColl}}
	for _, c := range []struct {
		name string
		end  bson.Raw
		want map[string]string // the catalog after
	}{
		{"plain rename", cmd(rename, false), map[string]string{string(temp): "db.c"}},
		{"fromMigrate rename", cmd(rename, true), map[string]string{string(temp): "db.c"}},
		{"plain drop (abort)", cmd(drop, false), map[string]string{string(orig): "db.c"}},
		{"fromMigrate drop (abort)", cmd(drop, true), map[string]string{string(orig): "db.c"}},
	} {
		cat := &reshCatalog{memCatalog: memCatalog{m: map[string]string{string(orig): "db.c"}}, under: map[string]bool{}}
		tr := NewTranslator(nil)
		tr.Catalog = cat
		tr.Resharding = func([]byte) (bool, error) { return false, nil } // one process over every shard
		run := func(raw bson.Raw) {
			ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, raw)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			for _, op := range ops {
				if op.Cmd == nil {
					t.Fatalf("%s: %s sends a write: %+v", c.name, raw, op)
				}
				// A nil client: any command sent to the destination panics.
				if err := op.Cmd(context.Background(), nil); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
		}
		run(create)
		if !cat.under[string(orig)] {
			t.Fatalf("%s: the create recorded no resharding", c.name)
		}
		run(c.end)
		if cat.under[string(orig)] {
			t.Errorf("%s: the resharding is still recorded", c.name)
		}
		if len(cat.m) != len(c.want) || cat.m[string(temp)] != c.want[string(temp)] || cat.m[string(orig)] != c.want[string(orig)] {
			t.Errorf("%s: catalog %q, want %q", c.name, cat.m, c.want)
		}
	}
}

// A plain rename of a temporary collection whose create this applier
// never saw (a resharding begun before the sync, an older state file,
// separate --shard processes) stops, naming the collection: a 5.0 donor's
// plain drop may have emptied it on the destination.
func TestTranslate_ReshardingRenameWithoutItsStartStops(t *testing.T) {
	orig, temp := uuid(1), uuid(2)
	rename := bsontest.Raw(t, bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "db.$cmd"}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: temp}},
		{Key: "o", Value: bson.D{{Key: "renameCollection", Value: "db.system.resharding.01010101-0101-0101-0101-010101010101"}, {Key: "to", Value: "db.c"},
			{Key: "stayTemp", Value: false}, {Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: orig}}}}})
	for _, oneProcess := range []bool{true, false} {
		tr := NewTranslator(nil)
		tr.Catalog = &reshCatalog{memCatalog: memCatalog{m: map[string]string{string(orig): "db.c"}}, under: map[string]bool{}}
		if oneProcess {
			tr.Resharding = func([]byte) (bool, error) { return false, nil }
		}
		_, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, rename)
		if err == nil || !strings.Contains(err.Error(), "did not see") || !strings.Contains(err.Error(), "db.c") {
			t.Errorf("one process %v: %v; want a stop naming db.c", oneProcess, err)
		}
	}
}

// The rename read again after it ran (a restart before the checkpoint
// moved past it, a replay): the catalog already places the temporary
// collection's UUID at the original's name, so it is done, whether or not
// the record's end was written before the crash; nothing stops.
func TestTranslate_ReshardingRenameReadAgain(t *testing.T) {
	orig, temp := uuid(1), uuid(2)
	rename := bsontest.Raw(t, bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "db.$cmd"}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: temp}},
		{Key: "o", Value: bson.D{{Key: "renameCollection", Value: "db.system.resharding.01010101-0101-0101-0101-010101010101"}, {Key: "to", Value: "db.c"},
			{Key: "stayTemp", Value: false}, {Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: orig}}}}})
	for _, recorded := range []bool{false, true} { // the record's end written, or not (a crash between the hooks)
		cat := &reshCatalog{memCatalog: memCatalog{m: map[string]string{string(temp): "db.c"}}, under: map[string]bool{}}
		if recorded {
			cat.under[string(orig)] = true
		}
		for _, oneProcess := range []bool{true, false} {
			tr := NewTranslator(nil)
			tr.Catalog = cat
			if oneProcess {
				tr.Resharding = func([]byte) (bool, error) { return false, nil }
			}
			ops, err := tr.AppendOps(nil, 1, bson.Timestamp{T: 1}, rename)
			if err != nil {
				t.Fatalf("recorded %v, one process %v: %v", recorded, oneProcess, err)
			}
			for _, op := range ops {
				if err := op.Cmd(context.Background(), nil); err != nil { // a nil client: nothing may be sent
					t.Fatal(err)
				}
			}
			if cat.under[string(orig)] || cat.m[string(temp)] != "db.c" {
				t.Errorf("recorded %v, one process %v: record %v, catalog %q", recorded, oneProcess, cat.under, cat.m)
			}
		}
	}
}

func TestReshardingOf(t *testing.T) {
	for coll, want := range map[string]bool{
		"system.resharding.01010101-0101-0101-0101-010101010101": true,
		"system.resharding.0101010101010101010101010101010101":   false,
		"system.resharding.01010101-0101-0101-0101-01010101010x": false,
		"system.resharding.":                              false,
		"resharding.01010101-0101-0101-0101-010101010101": false,
	} {
		if got := reshardingOf(coll) != nil; got != want {
			t.Errorf("reshardingOf(%q) = %v, want %v", coll, got, want)
		}
	}
}
