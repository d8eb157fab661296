package retry

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends, whichever is first; it returns ctx's
// error when ctx ended first. Its timer is stopped either way: a loop of
// Sleeps leaves no timer behind, as time.After would until it fired.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
