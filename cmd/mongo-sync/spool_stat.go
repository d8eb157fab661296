package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/inspect"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/spf13/cobra"
)

func newSpoolStatCmd() *cobra.Command {
	var (
		c      common
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "stat",
		Short: "Print the spool's segments, sizes, seq and ts ranges and ages",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			if shards, err := cfg.Shards(); err != nil {
				return err
			} else if len(shards) > 0 && c.shard == "" {
				return fmt.Errorf("the source is sharded (src.shards): each shard has its own spool; give --shard NAME (%s)", shardNames(shards))
			}
			if _, err := os.Stat(cfg.Spool.Dir); errors.Is(err, os.ErrNotExist) {
				return printNoSpool(cmd.OutOrStdout(), cfg.Spool.Dir, asJSON)
			}
			st, err := spool.ReadStat(cfg.Spool.Dir)
			if err != nil {
				return err
			}
			rep := inspect.NewSpoolReport(st, time.Now())
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printSpoolTable(cmd.OutOrStdout(), rep)
			}
			if st.Damaged > 0 || len(st.Gaps) > 0 {
				return fmt.Errorf("spool %s is damaged: %d damaged segments, %d gaps", st.Dir, st.Damaged, len(st.Gaps))
			}
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// printNoSpool reports a spool directory that does not exist (yet): the
// reader has not started. Nothing is created.
func printNoSpool(out io.Writer, dir string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(inspect.SpoolReport{Dir: dir, NotStarted: true, Segments: []inspect.SegmentReport{}})
	}
	_, err := fmt.Fprintf(out, "spool %s: not started (no such directory)\n", dir)
	return err
}

// printSpoolTable prints r as a table of segments and a summary.
func printSpoolTable(out io.Writer, r inspect.SpoolReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tFIRST SEQ\tLAST SEQ\tENTRIES\tBYTES\tFIRST TS\tLAST TS\tSTATUS")
	for _, s := range r.Segments {
		status := "ok"
		if s.Error != "" {
			status = "DAMAGED: " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", s.File, s.FirstSeq, s.LastSeq, s.Entries, s.Bytes, s.FirstTS, s.LastTS, status)
	}
	if r.OpenSegment != "" {
		state := "left by a stopped reader"
		if r.WriterRunning {
			state = "open, written by a running reader"
		} else if r.OpenError != "" {
			state = "left by a stopped reader, DAMAGED: " + r.OpenError
		}
		fmt.Fprintf(tw, "%s\t\t\t%d\t\t\t\t%s\n", r.OpenSegment, r.OpenEntries, state)
	}
	tw.Flush()
	for _, g := range r.Gaps {
		fmt.Fprintln(out, "GAP:", g)
	}
	fmt.Fprintf(out, "\n%d sealed segments, %d bytes, %d sealed entries (+%d open); reader running: %v; ended: %v\n",
		len(r.Segments), r.Bytes, r.Entries, r.OpenEntries, r.WriterRunning, r.Ended)
	if r.OldestTS != "" {
		fmt.Fprintf(out, "oldest entry %s (%ds ago), newest %s (%ds ago)\n", r.OldestTS, r.OldestAgeSec, r.NewestTS, r.NewestAgeSec)
	}
}

func shardNames(shards []config.Shard) string {
	names := make([]string, len(shards))
	for i, sh := range shards {
		names[i] = sh.Name
	}
	return strings.Join(names, ", ")
}
