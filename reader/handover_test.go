package reader

import (
	"context"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func insertEntry(t *testing.T, i uint32) bson.Raw {
	t.Helper()
	raw, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1_700_000_000, I: i}},
		{Key: "op", Value: "i"}, {Key: "ns", Value: "app.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: int32(i)}}}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestBatcher_HandOver: an entry read is handed to the spool as soon as the
// source has nothing more in hand, not after the batch interval.
func TestBatcher_HandOver(t *testing.T) {
	r := &Reader{BatchSize: 1000, BatchInterval: time.Hour, ProgressInterval: time.Hour, Log: testlog.Quiet()}
	out := make(chan []bson.Raw, 4)
	b := &batcher{r: r, out: out, ctx: context.Background(), gone: make(chan struct{}), lastSpooled: time.Now()}
	for i := uint32(1); i <= 3; i++ {
		if err := b.emit(insertEntry(t, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.emit(nil); err != nil { // idle, but within the batch interval
		t.Fatal(err)
	}
	if len(out) != 0 {
		t.Fatal("a batch was sent before the interval or a hand-over")
	}
	if !r.caughtUp.Load() {
		t.Fatal("emit(nil) did not mark the reader caught up")
	}
	if err := b.emit(handOver); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("%d batches after the hand-over, want 1", len(out))
	}
	if got := <-out; len(got) != 3 {
		t.Fatalf("handed over %d entries, want 3", len(got))
	}
	if !r.caughtUp.Load() {
		t.Fatal("a hand-over changed caught-up")
	}
	if err := b.emit(handOver); err != nil || len(out) != 0 {
		t.Fatalf("an empty hand-over sent a batch (%v)", err)
	}
}

// TestCoalesce: batches waiting while an append ran go in one append, up to
// the batch size; a closed channel is left for the next receive.
func TestCoalesce(t *testing.T) {
	ch := make(chan []bson.Raw, 4)
	ch <- []bson.Raw{insertEntry(t, 2)}
	ch <- []bson.Raw{insertEntry(t, 3), insertEntry(t, 4)}
	ch <- []bson.Raw{insertEntry(t, 5)}
	got := coalesce([]bson.Raw{insertEntry(t, 1)}, ch, 3)
	if len(got) != 4 || len(ch) != 1 {
		t.Fatalf("coalesced %d entries, %d batches left; want 4 and 1", len(got), len(ch))
	}
	for i, raw := range got {
		if tsOf(raw).I != uint32(i+1) {
			t.Fatalf("entry %d has ts %v: order lost", i, tsOf(raw))
		}
	}
	close(ch)
	if got := coalesce([]bson.Raw{insertEntry(t, 9)}, ch, 3); len(got) != 2 {
		t.Fatalf("coalesced %d entries from a closed channel, want 2", len(got))
	}
	if _, ok := <-ch; ok {
		t.Fatal("the channel should be drained and closed")
	}
}
