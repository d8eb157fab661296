package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/inspect"
	"github.com/spf13/cobra"
)

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
			cfg, err := c.loadReadOnly(cmd.Context())
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
			st, err := inspect.ReadStatus(cfg)
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

func printStatus(out io.Writer, st inspect.Status) {
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
	applied := st.StateMissing == "" && st.Note == ""
	switch {
	case st.SpoolMissing != "" && (!applied || st.AppliedSeq == 0):
		fmt.Fprintf(out, "reader:           not started (no spool directory %s)\n", st.SpoolMissing)
		return
	case st.SpoolMissing != "": // entries were applied from a spool that is gone
		fmt.Fprintf(out, "spooled up to:    unknown (no spool directory %s)\n", st.SpoolMissing)
	default:
		fmt.Fprintf(out, "spooled up to:    seq %d (ts %s)\n", st.SpooledSeq, st.SpooledTS)
	}
	if applied {
		entries := "unknown entries (" + st.LagUnknown + ")"
		if st.LagEntries != nil {
			entries = fmt.Sprintf("%d entries", *st.LagEntries)
		}
		if st.LagSeconds == nil {
			fmt.Fprintf(out, "lag:              %s, nothing applied yet\n", entries)
		} else {
			fmt.Fprintf(out, "lag:              %s, %d s\n", entries, *st.LagSeconds)
		}
	}
	if st.SpoolMissing == "" {
		fmt.Fprintf(out, "spool:            %d bytes, %d damaged segments\n", st.SpoolBytes, st.SpoolDamaged)
	}
}

// printShardStatus prints every shard's status of a sharded source.
func printShardStatus(out io.Writer, cfg *config.Config, shards []config.Shard, asJSON bool) error {
	all := map[string]inspect.Status{}
	for i, sh := range shards {
		st, err := inspect.ReadStatus(cfg.ForShard(sh))
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
