package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestReaderProcess_KillNine: the reader process is killed with SIGKILL at
// random moments while the source takes writes; after a last clean run the
// spool holds every write once, in oplog order.
func TestReaderProcess_KillNine(t *testing.T) {
	src := testmongo.StartSource(t)
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	coll := src.Client().Database("app").Collection("items")
	args := []string{"reader", "--src", src.URI, "--spool-dir", spoolDir, "--start-optime", nowOptime()}

	const total = 300
	written := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}}); err != nil {
				written <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		written <- nil
	}()

	// The first kill waits for the first sealed segment: the random ones
	// after it then land mid-stream, wherever the source's first oplog
	// query takes longer than they wait (a shared, long oplog).
	first := start(t, args...)
	waitFor(t, 60*time.Second, "a first sealed segment", func() bool {
		l, err := spool.List(spoolDir) // an error: the reader has not made the spool yet
		return err == nil && len(l.Sealed) > 0
	})
	first.kill9()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 1
	for writing := true; writing || kills < 10; kills++ {
		p := start(t, args...)
		time.Sleep(time.Duration(150+rng.IntN(500)) * time.Millisecond)
		p.kill9()
		select {
		case err := <-written:
			if err != nil {
				t.Fatal(err)
			}
			writing = false
		default:
		}
	}
	p := start(t, args...)
	waitFor(t, 30*time.Second, "the reader to resume", func() bool { return strings.Contains(p.output(), "resuming") })
	waitFor(t, 60*time.Second, "every write in the spool", func() bool { return len(spooledData(t, spoolDir)) >= total })
	if err := p.term(t); err != nil {
		t.Fatalf("reader did not exit 0 on SIGTERM: %v\n%s", err, p.out)
	}
	es := spooledData(t, spoolDir)
	if len(es) != total {
		t.Fatalf("spool holds %d entries after %d kills, want %d (none lost, none twice)", len(es), kills, total)
	}
	for i, e := range es {
		if id, _ := e.Raw.Lookup("o", "_id").AsInt64OK(); id != int64(i) {
			t.Fatalf("entry %d holds _id %d", i, id)
		}
		if i > 0 && e.Seq != es[i-1].Seq+1 && !e.TS.After(es[i-1].TS) {
			t.Fatalf("entry %d out of order", i)
		}
	}
	t.Logf("%d kill -9 of the reader process, %d entries spooled once each", kills, total)
}
