package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/spf13/cobra"
)

// offlineStatus is what `mongo-sync status` reads from the spool and the
// state file when no process holds them.
type offlineStatus struct {
	Stage        string   `json:"stage"`
	Running      bool     `json:"process_running"`
	Note         string   `json:"note,omitempty"`
	T0           string   `json:"t0,omitempty"`
	CopyEnd      string   `json:"copy_end,omitempty"`
	CopiedColls  []string `json:"copied_collections,omitempty"`
	AppliedSeq   uint64   `json:"applied_seq"`
	AppliedTS    string   `json:"applied_ts,omitempty"`
	SpooledSeq   uint64   `json:"spooled_seq"`
	SpooledTS    string   `json:"spooled_ts,omitempty"`
	LagEntries   int64    `json:"lag_entries"`
	LagSeconds   *int64   `json:"lag_seconds,omitempty"` // status.Lag; absent before a checkpoint
	SpoolBytes   int64    `json:"spool_bytes"`
	SpoolDamaged int      `json:"spool_damaged_segments"`
	// Nothing there yet: the applier (state file) or the reader (spool
	// directory) has not started.
	StateMissing string `json:"state_file_missing,omitempty"`
	SpoolMissing string `json:"spool_missing,omitempty"`
}

func newStatusCmd() *cobra.Command {
	var (
		c      common
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the sync's stage, positions and lag from the spool and the state file",
		Long: `Print what the spool and the state file say: stage, T0 and copy end, the
applier's checkpoint, the newest spooled entry, the lag between them. It
opens both read-only and creates nothing: a missing state file or spool
directory means "not started". While a mongo-sync process holds the state
file, its live figures are at the /status endpoint (http.listen); this
command then reports what the spool shows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(nil)
			if err != nil {
				return err
			}
			shards, err := cfg.Shards()
			if err != nil {
				return err
			}
			if len(shards) > 0 && c.shard == "" {
				return printShardStatus(cmd.OutOrStdout(), cfg, shards, asJSON)
			}
			st, err := readOffline(cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printStatus(out io.Writer, st offlineStatus) {
	fmt.Fprintf(out, "stage:            %s\n", st.Stage)
	if st.Note != "" {
		fmt.Fprintf(out, "note:             %s\n", st.Note)
	}
	if st.T0 != "" {
		fmt.Fprintf(out, "T0:               %s\ncopy end:         %s\ncopied:           %d collections\n", st.T0, st.CopyEnd, len(st.CopiedColls))
	}
	switch {
	case st.StateMissing != "":
		fmt.Fprintf(out, "applier:          not started (no state file %s)\n", st.StateMissing)
	case st.AppliedSeq == 0 && st.Note == "":
		fmt.Fprintf(out, "applied up to:    nothing yet\n")
	case st.Note == "":
		fmt.Fprintf(out, "applied up to:    seq %d (ts %s)\n", st.AppliedSeq, st.AppliedTS)
	}
	if st.SpoolMissing != "" {
		fmt.Fprintf(out, "reader:           not started (no spool directory %s)\n", st.SpoolMissing)
		return
	}
	fmt.Fprintf(out, "spooled up to:    seq %d (ts %s)\n", st.SpooledSeq, st.SpooledTS)
	if st.StateMissing == "" && st.Note == "" {
		if st.LagSeconds == nil {
			fmt.Fprintf(out, "lag:              %d entries, nothing applied yet\n", st.LagEntries)
		} else {
			fmt.Fprintf(out, "lag:              %d entries, %d s\n", st.LagEntries, *st.LagSeconds)
		}
	}
	fmt.Fprintf(out, "spool:            %d bytes, %d damaged segments\n", st.SpoolBytes, st.SpoolDamaged)
}

// readOffline reads the status of one spool and state file.
func readOffline(cfg *config.Config) (offlineStatus, error) {
	st := offlineStatus{}
	if _, err := os.Stat(cfg.Spool.Dir); errors.Is(err, os.ErrNotExist) {
		st.SpoolMissing = cfg.Spool.Dir
	} else if sp, err := spool.ReadStat(cfg.Spool.Dir); err == nil {
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
		st.LagEntries = int64(st.SpooledSeq) - int64(ck.Seq)
		var through time.Time
		if !ck.TS.IsZero() {
			through = time.Unix(int64(ck.TS.T), 0)
		}
		if lag, ok := status.Lag(time.Now(), through, st.LagEntries <= 0); ok {
			sec := int64(lag.Seconds())
			st.LagSeconds = &sec
		}
	}
	return st, nil
}

// printShardStatus prints every shard's status of a sharded source.
func printShardStatus(out io.Writer, cfg *config.Config, shards []config.Shard, asJSON bool) error {
	all := map[string]offlineStatus{}
	for i, sh := range shards {
		st, err := readOffline(cfg.ForShard(sh))
		if err != nil {
			return fmt.Errorf("shard %s: %w", sh.Name, err)
		}
		all[sh.Name] = st
		if !asJSON {
			if i > 0 {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "shard %s\n", sh.Name)
			printStatus(out, st)
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"shards": all})
	}
	return nil
}
