package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep_EndsWithCtxOrDelay(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a plain sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("a sleep on an ended ctx: %v, want %v", err, context.Canceled)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a sleep on an ended ctx took %v", d)
	}
}
