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
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
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
			cfg, err := c.load(nil)
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
			rep := newStatReport(st, time.Now())
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.table(cmd.OutOrStdout())
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
		return enc.Encode(statReport{Dir: dir, NotStarted: true, Segments: []segReport{}})
	}
	_, err := fmt.Fprintf(out, "spool %s: not started (no such directory)\n", dir)
	return err
}

type segReport struct {
	File     string `json:"file"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Entries  uint64 `json:"entries"`
	Bytes    int64  `json:"bytes"`
	FirstTS  string `json:"first_ts,omitempty"`
	LastTS   string `json:"last_ts,omitempty"`
	Error    string `json:"error,omitempty"`
}

type statReport struct {
	Dir            string      `json:"dir"`
	NotStarted     bool        `json:"not_started,omitempty"` // no spool directory
	Segments       []segReport `json:"segments"`
	Gaps           []string    `json:"gaps,omitempty"`
	Bytes          int64       `json:"bytes"`
	Entries        uint64      `json:"entries_sealed"`
	OpenSegment    string      `json:"open_segment,omitempty"`
	OpenEntries    uint64      `json:"open_entries"`
	WriterRunning  bool        `json:"writer_running"`
	Ended          bool        `json:"ended"`
	OldestTS       string      `json:"oldest_ts,omitempty"`
	NewestTS       string      `json:"newest_ts,omitempty"`
	OldestAgeSec   int64       `json:"oldest_age_s"`
	NewestAgeSec   int64       `json:"newest_age_s"`
	DamagedSegment int         `json:"damaged_segments"`
}

func fmtTSOrEmpty(ts bson.Timestamp) string {
	if ts.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d,%d", ts.T, ts.I)
}

func newStatReport(st spool.Stat, now time.Time) statReport {
	r := statReport{Dir: st.Dir, Bytes: st.Bytes, Entries: st.Entries, WriterRunning: st.WriterRunning,
		Ended: st.Ended, OldestTS: fmtTSOrEmpty(st.OldestTS), NewestTS: fmtTSOrEmpty(st.NewestTS),
		OldestAgeSec: int64(spool.Age(st.OldestTS, now).Seconds()), NewestAgeSec: int64(spool.Age(st.NewestTS, now).Seconds()),
		DamagedSegment: st.Damaged, Segments: []segReport{}}
	for _, s := range st.Segments {
		sr := segReport{File: s.Name(), FirstSeq: s.Segment.First, LastSeq: s.Segment.Last, Entries: s.Entries, Bytes: s.Size,
			FirstTS: fmtTSOrEmpty(s.FirstTS), LastTS: fmtTSOrEmpty(s.LastTS)}
		if s.Err != nil {
			sr.Error = s.Err.Error()
		}
		r.Segments = append(r.Segments, sr)
	}
	for _, g := range st.Gaps {
		r.Gaps = append(r.Gaps, g.Error())
	}
	if st.Writer != nil {
		r.OpenSegment, r.OpenEntries = st.Writer.Segment, st.Writer.Entries
	}
	return r
}

func (r statReport) table(out io.Writer) {
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
