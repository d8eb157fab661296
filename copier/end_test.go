package copier

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Only a report of a cursor opened at or after the copy's end counts; while
// one is wanted, the reader is asked to re-open; none in time is false.
func TestEndWitness_WaitsForACursorOpenedAfterTheEnd(t *testing.T) {
	ctx := context.Background()
	w := NewEndWitness()
	base := time.Now()
	if w.Idle(base, bson.Timestamp{T: 10}) {
		t.Error("re-open asked with nobody waiting")
	}
	end := base.Add(time.Second)

	got := make(chan bson.Timestamp, 1)
	go func() {
		ts, ok, err := w.Through(ctx, end, time.Minute)
		if err != nil || !ok {
			t.Errorf("Through: %v %v", ok, err)
		}
		got <- ts
	}()
	// A cursor opened before the end, even with newer entries read, does not
	// count, and asks for a re-open once Through waits.
	deadline := time.Now().Add(10 * time.Second)
	for !w.Idle(end.Add(-time.Millisecond), bson.Timestamp{T: 20}) {
		if time.Now().After(deadline) {
			t.Fatal("no re-open asked while Through waits")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case ts := <-got:
		t.Fatalf("Through returned %v on a cursor opened before the end", ts)
	case <-time.After(20 * time.Millisecond):
	}
	if w.Idle(end, bson.Timestamp{T: 30}) {
		t.Error("re-open asked after a report opened at the end")
	}
	if ts := <-got; !ts.Equal(bson.Timestamp{T: 30}) {
		t.Errorf("copy_end %v, want 30", ts)
	}
	if w.Idle(end.Add(time.Second), bson.Timestamp{T: 31}) {
		t.Error("re-open asked with nobody waiting any more")
	}

	// An older report arriving late moves nothing back.
	w.Idle(base, bson.Timestamp{T: 99})
	if ts, ok, _ := w.Through(ctx, end, time.Millisecond); !ok || !ts.Equal(bson.Timestamp{T: 31}) {
		t.Errorf("after a late old report: %v %v, want 31", ts, ok)
	}
	// Nothing after a later end: false once the wait is over.
	if _, ok, err := w.Through(ctx, time.Now().Add(time.Hour), 10*time.Millisecond); ok || err != nil {
		t.Errorf("no report after the end: %v %v, want false", ok, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := w.Through(cctx, time.Now().Add(time.Hour), time.Minute); err == nil {
		t.Error("a cancelled wait returned no error")
	}
}
