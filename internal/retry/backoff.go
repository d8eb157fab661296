package retry

import (
	"context"
	"time"
)

// The bounds of Backoff's delays.
const (
	firstDelay = 50 * time.Millisecond
	maxDelay   = 5 * time.Second
)

// Backoff is capped exponential backoff: waits of 50 ms, doubling after
// each, up to 5 s. The zero value is ready to use; Do backs off with one,
// and so do loops whose retry rule is not Retryable's (a lost cursor).
type Backoff struct{ delay time.Duration }

// Wait sleeps the next delay (see Sleep), then doubles it up to the cap;
// it returns ctx's error when ctx ends first.
func (b *Backoff) Wait(ctx context.Context) error { return Sleep(ctx, b.next()) }

// next is the delay to wait now.
func (b *Backoff) next() time.Duration {
	if b.delay == 0 {
		b.delay = firstDelay
	}
	d := b.delay
	b.delay = min(2*b.delay, maxDelay)
	return d
}
