package status

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// scrape returns /metrics as served.
func scrape(t *testing.T, r *Recorder) string {
	t.Helper()
	w := httptest.NewRecorder()
	promhttp.HandlerFor(r, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}

// metric returns the value of the sample line whose name (labels included)
// is exactly name, and whether there is one.
func metric(t *testing.T, text, name string) (float64, bool) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		n, v, ok := strings.Cut(l, " ")
		if ok && n == name {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			return f, true
		}
	}
	return 0, false
}

// statusJSON is /status as a client decodes it.
func statusJSON(t *testing.T, r *Recorder) map[string]any {
	t.Helper()
	b, err := json.Marshal(r.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func tsAt(at time.Time) bson.Timestamp { return bson.Timestamp{T: uint32(at.Unix()), I: 1} }

// Before anything is known to be applied there is no lag figure: not in
// /status (no epoch-sized number, no 0 either), not in /metrics.
func TestLag_NoFigureBeforeAPosition(t *testing.T) {
	r := New("sync")
	r.Spooled(3, 3, tsAt(time.Now().Add(-time.Minute)))
	r.CaughtUp(false)
	r.Positions(0, bson.Timestamp{}, 0, bson.Timestamp{}, true) // an applier with no checkpoint yet
	st := statusJSON(t, r)
	for _, k := range []string{"lag_ms", "lag_seconds", "applied_through"} {
		if v, ok := st[k]; ok {
			t.Errorf("/status has %s = %v before anything was applied", k, v)
		}
	}
	if _, ok := metric(t, scrape(t, r), "mongo_sync_lag_seconds"); ok {
		t.Errorf("/metrics has mongo_sync_lag_seconds before anything was applied:\n%s", scrape(t, r))
	}
	if l, ok := r.Lag(); ok {
		t.Errorf("Lag() = %v before anything was applied", l)
	}

	// A restarted applier's checkpoint is a position.
	r2 := New("sync")
	r2.Positions(0, bson.Timestamp{}, 7, tsAt(time.Now().Add(-time.Hour)), true)
	if l, ok := r2.Lag(); !ok || l < 59*time.Minute {
		t.Errorf("Lag() from an hour-old checkpoint = %v, %v", l, ok)
	}
}

// An idle source: the reader's idle reports keep the lag at 0, in /status
// and /metrics alike, however old the newest applied entry; the periodic
// no-ops that reach the spool as markers make it small, never the age of
// the last write.
func TestLag_IdleSourceSameEverywhere(t *testing.T) {
	r := New("sync")
	r.Positions(0, bson.Timestamp{}, 0, bson.Timestamp{}, true)
	hourAgo := time.Now().Add(-time.Hour)
	r.Spooled(5, 5, tsAt(hourAgo))
	r.Applied(5, 5, tsAt(hourAgo), hourAgo, time.Millisecond) // the last write, an hour ago
	seq := uint64(5)
	for round := 0; round < 3; round++ {
		r.SourceIdle(time.Now()) // the reader has everything the source has
		st := statusJSON(t, r)
		m, ok := metric(t, scrape(t, r), "mongo_sync_lag_seconds")
		if st["lag_ms"] != 0.0 || st["lag_seconds"] != 0.0 || !ok || m != 0 {
			t.Fatalf("round %d, caught up: /status lag_ms %v lag_seconds %v, /metrics %v (%v); want 0 in all", round, st["lag_ms"], st["lag_seconds"], m, ok)
		}
		// A no-op the source logged, spooled as a marker, not yet applied:
		// the lag counts from the last idle report, not from the last write.
		seq++
		r.Spooled(1, seq, tsAt(time.Now()))
		s1 := r.Snapshot()
		m, ok = metric(t, scrape(t, r), "mongo_sync_lag_seconds")
		s2 := r.Snapshot()
		if s1.LagSeconds == nil || s2.LagSeconds == nil || !ok || m < *s1.LagSeconds || m > *s2.LagSeconds+0.001 {
			t.Fatalf("round %d: /metrics lag %v (%v) is not /status's (%v then %v)", round, m, ok, s1.LagSeconds, s2.LagSeconds)
		}
		if *s1.LagSeconds > 60 {
			t.Fatalf("round %d: lag %v s on an idle source: counted from the last write", round, *s1.LagSeconds)
		}
		r.Applied(1, seq, tsAt(time.Now()), time.Now(), time.Millisecond)
	}
}

// Every metric is named mongo_sync_*, exactly these.
func TestMetrics_Names(t *testing.T) {
	r := New("sync")
	r.Read(1)
	r.Spooled(1, 1, ts(100))
	r.Applied(1, 1, ts(100), time.Time{}, time.Millisecond)
	r.Retry(errors.New("timeout"))
	r.Conflict()
	r.Fatal(errors.New("stop"))
	r.CopyInc("db.c", 1, 10)
	r.ReapplyNoop("missing")
	r.SpoolBytes(100)
	want := []string{
		"mongo_sync_apply_batch_seconds histogram",
		"mongo_sync_copied_docs_total counter",
		"mongo_sync_entries_applied_total counter",
		"mongo_sync_entries_read_total counter",
		"mongo_sync_entries_spooled_total counter",
		"mongo_sync_errors_total counter",
		"mongo_sync_lag_entries gauge",
		"mongo_sync_lag_seconds gauge",
		"mongo_sync_reapply_noops_total counter",
		"mongo_sync_retries_total counter",
		"mongo_sync_spool_bytes gauge",
	}
	text := scrape(t, r)
	var got []string
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
			got = append(got, rest)
		} else if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "mongo_sync_") {
			t.Errorf("metric line not named mongo_sync_*: %q", l)
		}
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range []string{"mongo_sync_entries_applied_total 1", "mongo_sync_lag_entries 0", `mongo_sync_errors_total{class="fatal"} 1`} {
		if !strings.Contains("\n"+text, "\n"+line+"\n") {
			t.Errorf("/metrics lacks the line %q", line)
		}
	}
}
