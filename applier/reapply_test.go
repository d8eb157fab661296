package applier

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/status"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Every rule that turns a server error into a no-op, or resolves it, is
// counted in reapply_noops_total{reason}, and the replay still converges.
func TestReapply_RulesAreCounted(t *testing.T) {
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx := context.Background()
	c := client.Database("test").Collection("coll")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	// The newer state the window meets: 1 is a scalar at a, 2 holds x.
	for _, d := range []bson.D{{{Key: "_id", Value: 1}, {Key: "a", Value: 5}}, {{Key: "_id", Value: 2}, {Key: "email", Value: "x"}}} {
		if _, err := c.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	rec := status.New("applying")
	tr := translate.NewTranslator(nil)
	x := &exec.Executor{Client: client, Workers: 2, BulkSize: 10, Log: quietLog(), Rec: rec}
	var ops []exec.Op
	for i, e := range []bson.D{
		entry(1, "u", "test.coll", nil, bson.D{{Key: "$v", Value: 1}, {Key: "$set", Value: bson.D{{Key: "a.b", Value: 1}}}}),
		entry(2, "u", "test.coll", nil, bson.D{{Key: "$v", Value: 1}, {Key: "$set", Value: bson.D{{Key: "a", Value: 5}}}}),
		entry(3, "i", "test.coll", nil, bson.D{{Key: "_id", Value: 3}, {Key: "email", Value: "x"}}),
		entry(4, "d", "test.coll", nil, bson.D{{Key: "_id", Value: 3}}),
	} {
		if e[2].Value == "u" {
			e = append(e, bson.E{Key: "o2", Value: bson.D{{Key: "_id", Value: 1}}})
		}
		var err error
		if ops, err = tr.AppendOps(ops, uint64(i+1), bson.Timestamp{T: 1, I: uint32(i)}, bsontest.MustMarshal(t, e)); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Apply(ctx, ops); err != nil {
		t.Fatalf("the window stopped the applier: %v", err)
	}
	// At least once each: the serial replay of a run that met a unique
	// conflict applies (and counts) its rules again.
	for _, reason := range []string{exec.ReasonPathNotViable, exec.ReasonUniqueMoved} {
		if got := noops(t, rec, reason); got < 1 {
			t.Errorf("reapply_noops_total{reason=%q} = %v, want at least 1", reason, got)
		}
	}
	n, err := c.CountDocuments(ctx, bson.D{})
	if err != nil || n != 2 {
		t.Fatalf("%d documents (%v), want 2: the moved-aside insert was deleted by the later entry", n, err)
	}
}

func noops(t *testing.T, rec *status.Recorder, reason string) float64 {
	mfs, err := rec.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mongo_sync_reapply_noops_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A unique conflict that no later entry resolves (the destination differs
// from the source) stops the applier once it has passed every replay
// window, naming the index and the key; the document waits moved aside.
func TestReapply_UnresolvedUniqueConflictStops(t *testing.T) {
	client := testmongo.StartDest(t).Client()
	ctx := context.Background()
	c := client.Database("test").Collection("coll")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetName("email_1").SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "email", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	spoolDir := spoolOplog(t, []bson.Raw{bsontest.MustMarshal(t, entry(9, "i", "test.coll", nil, bson.D{{Key: "_id", Value: 1}, {Key: "email", Value: "x"}}))})
	err := applyAll(t, client, spoolDir, filepath.Join(t.TempDir(), "state.db"))
	var ue *exec.UnresolvedError
	if !errors.As(err, &ue) {
		t.Fatalf("applier: %v, want the unresolved conflict", err)
	}
	for _, want := range []string{"email_1", `email="x"`, "test.coll"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
