package retry

import (
	"testing"
	"time"
)

// The delays double from 50 ms and stay at 5 s: the sequence Do and the
// copier's lost-cursor retries have always waited.
func TestBackoff_DoublesToTheCap(t *testing.T) {
	var b Backoff
	want := []time.Duration{50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000}
	for i, w := range want {
		if got := b.next(); got != w*time.Millisecond {
			t.Fatalf("wait %d: %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
}
