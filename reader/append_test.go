package reader

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var errDiskFull = errors.New("disk full (injected)")

// failingSpool accepts appends until the failAt-th, which fails.
type failingSpool struct {
	mu       sync.Mutex
	failAt   int
	appends  int
	afterErr int // appends tried after the failing one
	ended    bool
}

func (f *failingSpool) Last() (spool.Entry, bool) { return spool.Entry{}, false }

func (f *failingSpool) Append(_ context.Context, raws []bson.Raw) (uint64, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appends++
	switch {
	case f.appends == f.failAt:
		return 0, 0, errDiskFull
	case f.appends > f.failAt:
		f.afterErr++
	}
	return 1, uint64(len(raws)), nil
}

func (f *failingSpool) MarkEnded() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	return nil
}

// countingSource emits inserts until it has emitted limit (0: forever) or
// emit refuses one.
type countingSource struct {
	limit   int
	emitted atomic.Int64
	refused atomic.Bool
}

func (s *countingSource) produce(ctx context.Context, _ *bson.Raw, emit func(bson.Raw) error) error {
	for i := 1; s.limit == 0 || i <= s.limit; i++ {
		raw, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i)}}, {Key: "op", Value: "i"},
			{Key: "ns", Value: "app.items"}, {Key: "o", Value: bson.D{{Key: "_id", Value: i}}}})
		if err := emit(raw); err != nil {
			s.refused.Store(true)
			return err
		}
		s.emitted.Add(1)
	}
	return nil
}

// TestReader_AppendErrorStops: one failing append stops the reader with
// that error; the source is read no further and no later batch is appended
// (or thrown away) behind the error; a file source is not marked ended.
func TestReader_AppendErrorStops(t *testing.T) {
	const batch = 10
	for _, tc := range []struct {
		name  string
		limit int
	}{{"endless oplog", 0}, {"file of 500 entries", 500}} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &failingSpool{failAt: 3}
			src := &countingSource{limit: tc.limit}
			r := &Reader{W: sp, Source: src, BatchSize: batch, BatchInterval: time.Hour, Log: quiet(), EndWhenDone: tc.limit > 0}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				cancel()
				<-done
				t.Fatalf("the reader went on after the append error: %d entries read, %d appends after it", src.emitted.Load(), sp.afterErr)
			}
			if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "spool") || !strings.Contains(err.Error(), "1700000000,21") {
				t.Fatalf("got %v, want the append error naming the spool and the batch", err)
			}
			if sp.afterErr != 0 {
				t.Fatalf("%d appends after the failing one", sp.afterErr)
			}
			if sp.ended {
				t.Fatal("the spool was marked ended although a batch was not appended")
			}
			// At most the batches already handed over (channel, batcher) were read.
			if n := src.emitted.Load(); tc.limit == 0 && (!src.refused.Load() || n > int64((sp.failAt+6)*batch)) {
				t.Fatalf("the source read %d entries (refused: %v): it must stop right after the error", n, src.refused.Load())
			}
		})
	}
}
