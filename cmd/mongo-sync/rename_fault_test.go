//go:build failpoints

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestFault_RenameKillNine: the $out pattern through an oplog file, over
// the state a copy left (the collections' UUIDs in the catalog, their
// documents on the destination): writes to a temporary collection, then a
// rename with dropTarget over the target, then writes to the target, with
// a dotted update whose parent later changes type among them. The applier
// process is killed with SIGKILL after the rename ran and before the
// catalog records it, then restarted until it drains. The target ends
// complete, the temporary name leaves no ghost, and verify-style checks of
// every document pass.
func TestFault_RenameKillNine(t *testing.T) {
	dst := testmongo.StartDest(t)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, dst.URI, dst.URI, "")
	ctx := context.Background()
	tmpUI, outUI := bytes.Repeat([]byte{0xd1}, 16), bytes.Repeat([]byte{0xd2}, 16)

	// What the copy left: tmp (mid-$out) with 1 and 2, the old out, and
	// the catalog.
	db := dst.Client().Database("t")
	for coll, ids := range map[string][]int{"tmp": {1, 2}, "out": {70}} {
		for _, id := range ids {
			if _, err := db.Collection(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "a", Value: bson.D{{Key: "b", Value: 0}}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for ns, u := range map[string][]byte{"t.tmp": tmpUI, "t.out": outUI} {
		if err := st.SetCollection(u, ns); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	withUI := func(e bson.D, ui []byte) bson.D {
		return append(e, bson.E{Key: "ui", Value: bson.Binary{Subtype: 4, Data: ui}})
	}
	ins := func(ns string, id int) bson.D {
		return withUI(bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: ns}, {Key: "o", Value: bson.D{{Key: "_id", Value: id}, {Key: "a", Value: bson.D{{Key: "b", Value: 0}}}}}}, tmpUI)
	}
	upd := func(ns string, id int, o bson.D) bson.D {
		return withUI(bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: ns}, {Key: "o", Value: o}, {Key: "o2", Value: bson.D{{Key: "_id", Value: id}}}}, tmpUI)
	}
	entries := []bson.D{
		ins("t.tmp", 3),
		upd("t.tmp", 1, bson.D{{Key: "$v", Value: 1}, {Key: "$set", Value: bson.D{{Key: "a.b", Value: 5}}}}), // dotted, then a becomes a scalar
		withUI(bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "t.$cmd"}, {Key: "o", Value: bson.D{
			{Key: "renameCollection", Value: "t.tmp"}, {Key: "to", Value: "t.out"}, {Key: "stayTemp", Value: false},
			{Key: "dropTarget", Value: bson.Binary{Subtype: 4, Data: outUI}}}}}, tmpUI),
		upd("t.out", 1, bson.D{{Key: "$v", Value: 2}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "a", Value: "flat"}}}}}}),
		ins("t.out", 4),
	}
	var buf bytes.Buffer
	for i, e := range entries {
		e = append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}, {Key: "t", Value: int64(1)}}, e...)
		raw, err := bson.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(raw)
	}
	oplog := filepath.Join(dir, "oplog.bson")
	if err := os.WriteFile(oplog, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "reader", "--spool-dir", filepath.Join(dir, "spool"), "--src-file", oplog); err != nil {
		t.Fatalf("reader --src-file: %v\n%s", err, out)
	}

	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt > 5 {
			t.Fatal("the applier never drained the spool")
		}
		var env []string
		if attempt == 0 { // a replayed rename passes the same point again
			env = []string{"MONGO_SYNC_FAILPOINT=applier-after-ddl:1"}
		}
		p := startEnv(t, env, "applier", "-f", conf, "--exit-when-drained")
		select {
		case <-p.exited:
		case <-time.After(90 * time.Second):
			t.Fatalf("the applier neither drained nor reached its failpoint:\n%s", p.output())
		}
		if strings.Contains(p.output(), "failpoint applier-after-ddl hit") {
			kills++
			continue
		}
		if p.err != nil {
			t.Fatalf("restart %d stopped: %v\n%s", attempt, p.err, p.output())
		}
		break
	}
	if kills == 0 {
		t.Fatal("no run reached applier-after-ddl: the rename was never interrupted")
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "out" {
		t.Errorf("collections %v, want only out (no ghost of tmp)", names)
	}
	var got []bson.M
	cur, err := db.Collection("out").Find(ctx, bson.D{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	want := map[int32]string{1: `"flat"`, 2: `{"b":{"$numberInt":"0"}}`, 3: `{"b":{"$numberInt":"0"}}`, 4: `{"b":{"$numberInt":"0"}}`}
	if len(got) != len(want) {
		t.Fatalf("out holds %v, want _ids 1-4", got)
	}
	for _, d := range got {
		id, _ := d["_id"].(int32)
		a, _ := bson.MarshalExtJSON(bson.M{"v": d["a"]}, true, false)
		if w := `{"v":` + want[id] + `}`; string(a) != w {
			t.Errorf("out _id %d: a = %s, want %s", id, a, w)
		}
	}
	t.Logf("rename through an oplog file: %d kill -9 after the DDL ran, before its catalog record; out complete, no ghost", kills)
}
