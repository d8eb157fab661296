package inspect

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// writeSpool spools n insert entries (seq 1..n) into dir and seals them.
func writeSpool(t *testing.T, dir string, n int, ts bson.Timestamp) {
	t.Helper()
	w, err := spool.OpenWriter(dir, spool.Options{SealInterval: time.Hour, Logger: testlog.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	raws := make([]bson.Raw, n)
	for i := range raws {
		entry := ts
		entry.I += uint32(i)
		raw, err := bson.Marshal(bson.D{{Key: "ts", Value: entry}, {Key: "t", Value: int64(1)}, {Key: "op", Value: "i"},
			{Key: "ns", Value: "app.items"}, {Key: "o", Value: bson.D{{Key: "_id", Value: i}}}})
		if err != nil {
			t.Fatal(err)
		}
		raws[i] = raw
	}
	if _, _, err := w.Append(context.Background(), raws); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// The lag in entries is the spooled seq minus the applied one, and only
// the spool can say it: with the spool directory gone, or a spool that
// ends before the checkpoint, it is unknown (absent from the JSON, with
// why), never negative, and the lag in seconds does not read as caught up.
func TestReadStatus_LagEntriesNeedTheSpool(t *testing.T) {
	applied := bson.Timestamp{T: uint32(time.Now().Add(-10 * time.Minute).Unix()), I: 1}
	cases := []struct {
		name        string
		spooled     int // entries in the spool; -1: no spool directory
		wantEntries int64
		unknown     string // LagUnknown contains it; "" when the lag is known
		caughtUp    bool   // lag_seconds is 0
	}{
		{"spool removed", -1, 0, "is missing", false},
		{"spool emptied", 0, 0, "before the applied seq 20", false},
		{"spool applied", 20, 0, "", true},
		{"spool ahead", 25, 5, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := &config.Config{}
			cfg.Spool.Dir, cfg.Store.Path = filepath.Join(dir, "spool"), filepath.Join(dir, "state.db")
			switch {
			case tc.spooled > 0:
				writeSpool(t, cfg.Spool.Dir, tc.spooled, applied)
			case tc.spooled == 0:
				if err := os.Mkdir(cfg.Spool.Dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			s, err := store.Open(cfg.Store.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetStage(store.StageApplied); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCheckpoint(store.Checkpoint{Seq: 20, TS: applied}); err != nil {
				t.Fatal(err)
			}
			s.Close()

			st, err := ReadStatus(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// As status --json prints it.
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				LagEntries *int64 `json:"lag_entries"`
				LagUnknown string `json:"lag_entries_unknown"`
				LagSeconds *int64 `json:"lag_seconds"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if tc.unknown != "" {
				if got.LagEntries != nil || !strings.Contains(got.LagUnknown, tc.unknown) {
					t.Errorf("lag_entries %s (unknown: %q), want it absent because %q:\n%s", ptrString(got.LagEntries), got.LagUnknown, tc.unknown, b)
				}
			} else if got.LagEntries == nil || *got.LagEntries != tc.wantEntries || got.LagUnknown != "" {
				t.Errorf("lag_entries %s (unknown: %q), want %d:\n%s", ptrString(got.LagEntries), got.LagUnknown, tc.wantEntries, b)
			}
			// Ten minutes since the applied entry: 0 s says caught up.
			if got.LagSeconds == nil || (*got.LagSeconds == 0) != tc.caughtUp || !tc.caughtUp && *got.LagSeconds < 590 {
				t.Errorf("lag_seconds %s; caught up: want %v (ten minutes behind otherwise):\n%s", ptrString(got.LagSeconds), tc.caughtUp, b)
			}
		})
	}
}

func ptrString(p *int64) string {
	if p == nil {
		return "absent"
	}
	return strconv.FormatInt(*p, 10)
}
