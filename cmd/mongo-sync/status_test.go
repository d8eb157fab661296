package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/inspect"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

func TestObservability_StatusMetricsAndStatusCommand(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, src.URI, dst.URI, "[http]\nlisten = \"127.0.0.1:0\"\n")
	p := start(t, "sync", "-f", conf, "--start-optime", nowOptime())
	p.waitLog(t, 30*time.Second, "serving /status and /metrics")
	addr := regexp.MustCompile(`addr="?(127\.0\.0\.1:\d+)`).FindStringSubmatch(p.output())
	if addr == nil {
		t.Fatalf("no loopback address in the log:\n%s", p.output())
	}
	base := "http://" + addr[1]
	p.waitLog(t, 30*time.Second, "applier starting")
	coll := src.Client().Database("app").Collection("items")
	for i := 0; i < 20; i++ {
		if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	var st struct {
		Identity *struct {
			Command, Source, Destination, Config, Version string
			PID                                           int
		} `json:"identity"`
		Stage        string `json:"stage"`
		AppliedTotal int64  `json:"applied_total"`
		Applier      *struct {
			Seq uint64 `json:"seq"`
		} `json:"applier"`
		LagEntries int64 `json:"lag_entries"`
	}
	waitFor(t, 60*time.Second, "/status to show 20 applied entries", func() bool {
		st.AppliedTotal = 0
		json.Unmarshal([]byte(httpGet(t, base+"/status")), &st)
		return st.AppliedTotal >= 20
	})
	// The source took exactly these 20 writes since the start: an entry
	// applied twice, or one counted twice, shows.
	if st.Stage != "applying" || st.Applier == nil || st.Applier.Seq < 20 || st.AppliedTotal != 20 {
		t.Errorf("/status: %+v", st)
	}
	// Which process this is: the command, both servers, the config file.
	if id := st.Identity; id == nil || id.Command != "sync" || id.Source != src.URI || id.Destination != dst.URI ||
		id.Config != conf || id.Version == "" || id.PID != p.cmd.Process.Pid {
		t.Errorf("/status identity: %+v; want sync of %s to %s from %s, pid %d", id, src.URI, dst.URI, conf, p.cmd.Process.Pid)
	}
	// Idle and applied: the migration fields say so.
	var mig struct {
		Consistent     bool       `json:"consistent"`
		CanCutover     bool       `json:"can_cutover"`
		AppliedThrough *time.Time `json:"applied_through"`
		CaughtUpAt     *time.Time `json:"caught_up_at"`
		LagMS          int64      `json:"lag_ms"`
	}
	waitFor(t, 30*time.Second, "/status to say can_cutover while the source is idle", func() bool {
		mig.CanCutover = false
		json.Unmarshal([]byte(httpGet(t, base+"/status")), &mig)
		return mig.CanCutover
	})
	if !mig.Consistent || mig.AppliedThrough == nil || mig.CaughtUpAt == nil || mig.LagMS != 0 {
		t.Errorf("/status while idle and applied: %+v", mig)
	}
	metrics := httpGet(t, base+"/metrics")
	// Series compared whole (name and labels) and values by number: a
	// prefix match would take 200 for 20.
	for series, want := range map[string]float64{"mongo_sync_entries_applied_total": 20, "mongo_sync_retries_total": 0} {
		if got, ok := metricValue(metrics, series); !ok || got != want {
			t.Errorf("/metrics: %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if got, ok := metricValue(metrics, "mongo_sync_entries_spooled_total"); !ok || got < 20 {
		t.Errorf("/metrics: mongo_sync_entries_spooled_total = %v (present %v), want at least the 20 writes", got, ok)
	}
	if _, ok := metricValue(metrics, "mongo_sync_spool_bytes"); !ok {
		t.Errorf("/metrics lacks mongo_sync_spool_bytes")
	}
	// The lag as /status has it: small while the source is idle.
	if got, ok := metricValue(metrics, "mongo_sync_lag_seconds"); !ok || got > 2 {
		t.Errorf("/metrics: mongo_sync_lag_seconds = %v (present %v) while idle and applied, want at most 2", got, ok)
	}
	if !regexp.MustCompile(`(?m)^mongo_sync_apply_batch_seconds_bucket\{`).MatchString(metrics) {
		t.Errorf("/metrics lacks mongo_sync_apply_batch_seconds_bucket")
	}
	if err := p.term(t); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "status", "-f", conf, "--json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var off inspect.Status
	if err := json.Unmarshal([]byte(out), &off); err != nil || off.Stage != "applying" || off.AppliedSeq < 20 || off.LagEntries == nil || *off.LagEntries != 0 || off.Running {
		t.Fatalf("status --json: %+v (%v)\n%s", off, err, out)
	}
	if out, err := run(t, "status", "-f", conf); err != nil || !strings.Contains(out, "applied up to") {
		t.Fatalf("status table: %v\n%s", err, out)
	}
}

// The spool directory removed after entries were applied: status cannot
// tell how many entries the applier is behind, says so and why, and says
// nothing that reads as caught up (a negative lag, lag_seconds 0).
func TestStatus_SpoolRemovedLagUnknown(t *testing.T) {
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, "mongodb://127.0.0.1:1", "mongodb://127.0.0.1:1", "")
	st, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	applied := bson.Timestamp{T: uint32(time.Now().Add(-10 * time.Minute).Unix()), I: 1}
	if err := st.SetStage(store.StageApplied); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCheckpoint(store.Checkpoint{Seq: 20, TS: applied}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, err := run(t, "status", "-f", conf, "--json")
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	lagSec, _ := js["lag_seconds"].(float64)
	why, _ := js["lag_entries_unknown"].(string)
	if _, ok := js["lag_entries"]; ok || !strings.Contains(why, "spool directory") || !strings.Contains(why, "missing") || lagSec < 590 {
		t.Errorf("status --json with the spool removed: want no lag_entries, why it is unknown, and ten minutes' lag_seconds:\n%s", out)
	}

	out, err = run(t, "status", "-f", conf)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if !strings.Contains(out, "lag:              unknown entries (the spool directory") || !strings.Contains(out, "missing") ||
		strings.Contains(out, " 0 s") || strings.Contains(out, "-20") {
		t.Errorf("status with the spool removed: want the lag in entries unknown, with why, and not caught up:\n%s", out)
	}
}

// metricValue is the value of one series (its name and labels exactly as
// the exposition prints them) in a Prometheus text exposition.
func metricValue(exposition, series string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || name != series {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return v, err == nil
	}
	return 0, false
}
