// Package inspect reads a sync's spool and state file without writing to
// them or waiting for their locks, beside a running sync or with none: the
// status, spool stat and spool dump commands print what it reads.
package inspect

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
)

// Status is what a sync's spool and state file say (the status command):
// read while no process holds them, or, while one does, what the spool
// shows beside it.
type Status struct {
	Stage       string   `json:"stage"`
	Running     bool     `json:"process_running"`
	Note        string   `json:"note,omitempty"`
	T0          string   `json:"t0,omitempty"`
	CopyEnd     string   `json:"copy_end,omitempty"`
	CopiedColls []string `json:"copied_collections,omitempty"`
	AppliedSeq  uint64   `json:"applied_seq"`
	AppliedTS   string   `json:"applied_ts,omitempty"`
	SpooledSeq  uint64   `json:"spooled_seq"`
	SpooledTS   string   `json:"spooled_ts,omitempty"`
	// LagEntries is the spooled seq minus the applied one; absent (nil)
	// while the spool does not say how far it goes (LagUnknown says why).
	LagEntries   *int64 `json:"lag_entries,omitempty"`
	LagUnknown   string `json:"lag_entries_unknown,omitempty"`
	LagSeconds   *int64 `json:"lag_seconds,omitempty"` // status.Lag; absent before a checkpoint
	SpoolBytes   int64  `json:"spool_bytes"`
	SpoolDamaged int    `json:"spool_damaged_segments"`
	// Nothing there yet: the applier (state file) or the reader (spool
	// directory) has not started.
	StateMissing string `json:"state_file_missing,omitempty"`
	SpoolMissing string `json:"spool_missing,omitempty"`
}

// ReadStatus reads the status of one spool and state file, read-only: a
// missing state file or spool directory is "not started", not an error.
func ReadStatus(cfg *config.Config) (Status, error) {
	st := Status{}
	var spoolErr error // the spool was not read: how far it goes is unknown
	if _, err := os.Stat(cfg.Spool.Dir); errors.Is(err, os.ErrNotExist) {
		st.SpoolMissing = cfg.Spool.Dir
		spoolErr = fmt.Errorf("the spool directory %s is missing", cfg.Spool.Dir)
	} else if sp, err := spool.ReadStat(cfg.Spool.Dir); err != nil {
		spoolErr = fmt.Errorf("the spool %s could not be read: %w", cfg.Spool.Dir, err)
	} else {
		st.SpoolBytes, st.SpoolDamaged = sp.Bytes, sp.Damaged
		if n := len(sp.Segments); n > 0 {
			st.SpooledSeq = sp.Segments[n-1].Segment.Last
		}
		if sp.Writer != nil && sp.Writer.LastSeq > st.SpooledSeq {
			st.SpooledSeq = sp.Writer.LastSeq
		}
		st.SpooledTS = fmtTSOrEmpty(sp.NewestTS)
		st.Running = sp.WriterRunning
	}
	s, err := store.OpenReadOnly(cfg.Store.Path)
	switch {
	case errors.Is(err, store.ErrNotStarted):
		st.Stage, st.StateMissing = "not started", cfg.Store.Path
	case errors.Is(err, store.ErrBusy):
		st.Running = true
		st.Note = "a running mongo-sync process holds the state file: its live status is at /status (http.listen)"
	case err != nil:
		return st, err
	default:
		defer s.Close()
		st.Stage = string(s.Stage())
		if st.Stage == "" {
			st.Stage = "not started"
		}
		st.T0, st.CopyEnd, st.CopiedColls = fmtTSOrEmpty(s.T0()), fmtTSOrEmpty(s.CopyEnd()), s.CopyDone()
		ck, err := s.Checkpoint()
		if err != nil {
			return st, err
		}
		st.AppliedSeq, st.AppliedTS = ck.Seq, fmtTSOrEmpty(ck.TS)
		st.lagEntries(spoolErr)
		var through time.Time
		if !ck.TS.IsZero() {
			through = time.Unix(int64(ck.TS.T), 0)
		}
		// Caught up only where the spool shows it: every spooled entry
		// applied. Without a spool nothing says so (status.Lag: the lag is
		// then now minus what was applied).
		caughtUp := st.LagEntries != nil && *st.LagEntries == 0
		if lag, ok := status.Lag(time.Now(), through, caughtUp); ok {
			sec := int64(lag.Seconds())
			st.LagSeconds = &sec
		}
	}
	return st, nil
}

// lagEntries sets LagEntries, the spooled seq minus the applied one, or
// LagUnknown: spoolErr is why the spool was not read, and a spool that ends
// before the applied checkpoint (emptied, or another spool) does not say how
// many entries the applier is behind either.
func (st *Status) lagEntries(spoolErr error) {
	switch {
	case spoolErr != nil:
		st.LagUnknown = spoolErr.Error()
	case st.SpooledSeq < st.AppliedSeq:
		st.LagUnknown = fmt.Sprintf("the spool ends at seq %d, before the applied seq %d", st.SpooledSeq, st.AppliedSeq)
	default:
		n := int64(st.SpooledSeq - st.AppliedSeq)
		st.LagEntries = &n
	}
}
