package spool

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestFollow_ReadsOpenSegment: a following reader sees an append at once,
// with the segment still open; a plain reader sees it only once sealed.
func TestFollow_ReadsOpenSegment(t *testing.T) {
	dir := t.TempDir()
	appended := make(chan struct{}, 1)
	w := openTestWriter(t, dir, func(o *Options) {
		o.SealInterval = time.Hour
		o.OnAppend = func() {
			select {
			case appended <- struct{}{}:
			default:
			}
		}
	})
	defer w.Close()
	f, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Follow(w)
	ctx := context.Background()

	if es, err := f.Read(ctx, 1, 100, 1<<20); err != nil || len(es) != 0 {
		t.Fatalf("empty spool: %d entries, %v", len(es), err)
	}
	batch := makeBatch(1, 10, 20)
	if _, _, err := w.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	select {
	case <-appended:
	default:
		t.Fatal("OnAppend was not called")
	}
	if l := mustList(t, dir); l.Open == nil || len(l.Sealed) != 0 {
		t.Fatalf("want one open segment and no sealed one, have %+v", l)
	}
	if got := readAll(t, dir, 1); len(got) != 0 {
		t.Fatalf("a plain reader read %d entries of an open segment", len(got))
	}
	es, err := f.Read(ctx, 1, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 10 {
		t.Fatalf("follower read %d entries of the open segment, want 10", len(es))
	}
	checkContiguous(t, es, 1)
	for i := range es {
		if !bytes.Equal(es[i].Raw, batch[i]) {
			t.Fatalf("entry %d differs", i)
		}
	}
	// Past the end: nothing yet, no error.
	if es, err := f.Read(ctx, 11, 100, 1<<20); err != nil || len(es) != 0 {
		t.Fatalf("read past the end: %d entries, %v", len(es), err)
	}
	// Limits hold in the open segment too.
	if es, err := f.Read(ctx, 3, 4, 1<<20); err != nil || len(es) != 4 || es[0].Seq != 3 {
		t.Fatalf("read 4 from 3: %d entries, %v", len(es), err)
	}
	// After a seal the same entries come from the sealed file.
	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Append(ctx, makeBatch(2, 5, 20)); err != nil {
		t.Fatal(err)
	}
	es, err = f.Read(ctx, 5, 100, 1<<20)
	if err != nil || len(es) != 6 || es[0].Seq != 5 || es[5].Seq != 10 {
		t.Fatalf("read from 5 after the seal: %d entries, %v", len(es), err)
	}
	es, err = f.Read(ctx, 11, 100, 1<<20)
	if err != nil || len(es) != 5 || es[0].Seq != 11 {
		t.Fatalf("read from 11 (the new open segment): %d entries, %v", len(es), err)
	}
}

// TestFollow_SealRotationUnderConcurrentAppends: the follower drains a
// spool whose segments are sealed (on size and on a short interval) while
// appends go on, and removes what it has read as the applier does; every
// seq arrives once, in order, with its bytes. Run it with -race.
func TestFollow_SealRotationUnderConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	w := openTestWriter(t, dir, func(o *Options) {
		o.SegmentMaxBytes = 64 << 10
		o.SealInterval = 3 * time.Millisecond
		o.OnAppend, o.OnSeal = notify, notify
	})
	f, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Follow(w)

	const batches = 300
	var (
		mu   sync.Mutex
		want []bson.Raw
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	appendErr := make(chan error, 1)
	go func() {
		defer close(appendErr)
		for b := 0; b < batches; b++ {
			batch := makeBatch(b, 1+rand.IntN(40), rand.IntN(300))
			mu.Lock()
			want = append(want, batch...)
			mu.Unlock()
			if _, _, err := w.Append(ctx, batch); err != nil {
				appendErr <- err
				return
			}
			if b%7 == 0 {
				time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond)
			}
			if b%50 == 0 {
				if err := w.Seal(); err != nil { // an explicit seal between appends too
					appendErr <- err
					return
				}
			}
		}
		appendErr <- w.Close()
	}()

	next, fromOpen := uint64(1), 0
	done := false
	for !done || next <= uint64(len(want)) {
		es, err := f.Read(ctx, next, 1+rand.IntN(50), 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		mu.Lock()
		for _, e := range es {
			if e.Seq != next {
				t.Fatalf("got seq %d, want %d", e.Seq, next)
			}
			if !bytes.Equal(e.Raw, want[e.Seq-1]) {
				t.Fatalf("seq %d differs", e.Seq)
			}
			next++
		}
		mu.Unlock()
		if len(es) > 0 {
			if l := mustList(t, dir); l.Open != nil && es[0].Seq >= l.Open.First {
				fromOpen++
			}
			if _, err := Remove(dir, next, 0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !done {
			select {
			case err, ok := <-appendErr:
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					done = true
				}
			case <-wake:
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				t.Fatalf("stuck at seq %d", next)
			}
		} else if next <= uint64(len(want)) {
			t.Fatalf("writer closed; read stopped at seq %d of %d", next, len(want))
		}
	}
	if next != uint64(len(want))+1 {
		t.Fatalf("read through seq %d, want %d", next-1, len(want))
	}
	t.Logf("%d entries, %d reads started in the open segment", len(want), fromOpen)
}
