package copier

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"
)

// syncBuffer is a bytes.Buffer safe for the bars' renderer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Log lines written while the bars run come out on the bars' output, above
// them; after the bars are done they go to the fallback, never lost.
func TestBars_LogLinesAbove(t *testing.T) {
	var screen, fallback syncBuffer
	// As NewProgress makes them for a terminal, refreshing although the
	// buffer is not one.
	p := &bars{p: mpb.New(mpb.WithOutput(&screen), mpb.WithAutoRefresh(), mpb.WithRefreshRate(10*time.Millisecond)),
		bars: map[string]*mpb.Bar{}, totals: map[string]int64{}}
	var _ Progress = p
	above := p.Above(&fallback)
	p.Add("shop.orders", 10)
	if _, err := above.Write([]byte("while copying\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a few refreshes
	p.Inc("shop.orders", 10, 100)
	p.Done("shop.orders")
	p.Wait()
	if _, err := above.Write([]byte("after the copy\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(screen.String(), "while copying") || strings.Contains(fallback.String(), "while copying") {
		t.Fatalf("a line logged during the copy did not print with the bars:\nscreen %q\nfallback %q", screen.String(), fallback.String())
	}
	if fallback.String() != "after the copy\n" {
		t.Fatalf("a line logged after the bars ended went %q, want it on the fallback", fallback.String())
	}
}
