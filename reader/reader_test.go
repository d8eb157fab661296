package reader

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func quiet() logrus.FieldLogger { return testlog.Quiet() }

type running struct {
	cancel context.CancelFunc
	done   chan error
	w      *spool.Writer
}

// startReader runs a reader from src into dir until stopped.
func startReader(t *testing.T, srcURI, dir string, start bson.Timestamp, ns *config.Namespaces) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client, id, err := Connect(ctx, config.Mongo{URI: srcURI})
	if err != nil {
		t.Fatal(err)
	}
	w, err := spool.OpenWriter(dir, spool.Options{SealInterval: 50 * time.Millisecond, Source: id, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	f := Filter{NS: ns}
	r := &Reader{W: w, Filter: f, BatchSize: 100, BatchInterval: 20 * time.Millisecond, ProgressInterval: 300 * time.Millisecond, Log: quiet(),
		Source: &OplogSource{Client: client, Start: start, Filter: f, ProbeEvery: 300 * time.Millisecond, Log: quiet()}}
	run := &running{cancel: cancel, done: make(chan error, 1), w: w}
	go func() {
		err := r.Run(ctx)
		w.Close()
		client.Disconnect(context.Background())
		run.done <- err
	}()
	return run
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("reader: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reader did not stop")
	}
}

// spooled reads every sealed entry of dir.
func spooled(t *testing.T, dir string) []spool.Entry {
	t.Helper()
	r, err := spool.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []spool.Entry
	for from := uint64(1); ; {
		es, err := r.Read(context.Background(), from, 1000, 1<<24)
		if errors.Is(err, spool.ErrGone) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
		from = es[len(es)-1].Seq + 1
	}
}

// waitSpooled waits until the spool holds n entries of op kinds in ops.
func waitSpooled(t *testing.T, r *running, dir string, n int) []spool.Entry {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		es := dataEntries(spooled(t, dir))
		if len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool holds %d data entries, want %d", len(es), n)
		}
		select {
		case err := <-r.done:
			t.Fatalf("reader stopped early (%v) with %d of %d entries spooled", err, len(es), n)
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dataEntries are the entries a test counts as its writes (bsontest.Counted).
func dataEntries(es []spool.Entry) []spool.Entry {
	var out []spool.Entry
	for _, e := range es {
		if bsontest.Counted(e.Raw) {
			out = append(out, e)
		}
	}
	return out
}

// nowTS is a start just past the source's newest oplog entry: the test's
// own writes come after it, and on a shared source (make test-real) the
// entries of the tests before it, such as their databases' drops, do not.
func nowTS(t *testing.T, src *testmongo.Server) bson.Timestamp {
	t.Helper()
	ts, err := (&OplogSource{Client: src.Client()}).edge(context.Background(), -1)
	if err != nil {
		t.Fatalf("the source's newest oplog entry: %v", err)
	}
	return bson.Timestamp{T: ts.T, I: ts.I + 1}
}

func insertN(t *testing.T, c *mongo.Collection, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := c.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}, {Key: "v", Value: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReader_SpoolsWritesInOrderOnce(t *testing.T) {
	src := testmongo.StartSource(t)
	dir := t.TempDir()
	coll := src.Client().Database("app").Collection("items")
	r := startReader(t, src.URI, dir, nowTS(t, src), nil)

	insertN(t, coll, 0, 50)
	if _, err := coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: 3}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "three"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(context.Background(), bson.D{{Key: "_id", Value: 4}}); err != nil {
		t.Fatal(err)
	}
	waitSpooled(t, r, dir, 52)
	r.stop(t)
	es := dataEntries(spooled(t, dir))
	if len(es) != 52 {
		t.Fatalf("spooled %d data entries, want 52", len(es))
	}
	for i := 0; i < 50; i++ {
		id, _ := es[i].Raw.Lookup("o", "_id").AsInt64OK()
		if op := es[i].Raw.Lookup("op").StringValue(); op != "i" || id != int64(i) {
			t.Fatalf("entry %d: op %s _id %d, want insert of %d", i, op, id, i)
		}
	}
	if op := es[50].Raw.Lookup("op").StringValue(); op != "u" {
		t.Fatalf("entry 50 is %s, want the update", op)
	}
	if op := es[51].Raw.Lookup("op").StringValue(); op != "d" {
		t.Fatalf("entry 51 is %s, want the delete", op)
	}
}
