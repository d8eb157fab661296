package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/inspect"
	"github.com/spf13/cobra"
)

func newSpoolCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "spool", Short: "Inspect the spool"}
	cmd.AddCommand(newSpoolDumpCmd(), newSpoolStatCmd())
	return cmd
}

func newSpoolDumpCmd() *cobra.Command {
	var (
		c              common
		ns, ops, from  string
		fromSeq, limit int64
	)
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Print spooled entries, one relaxed Extended JSON document per line",
		Long: `Print spooled entries as {seq, ts, op, ns, entry}, one per line, from the
sealed segments. --ns takes an exact namespace, or a regular expression
between slashes (--ns '/^app\.(a|b)$/').`,
		Args: cobra.NoArgs,
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
			f := inspect.Filter{NS: ns, Limit: int(limit)}
			if fromSeq < 0 || limit < 0 {
				return fmt.Errorf("--from-seq and --limit must not be negative")
			}
			f.FromSeq = uint64(fromSeq)
			if len(ns) > 1 && strings.HasPrefix(ns, "/") && strings.HasSuffix(ns, "/") {
				if f.NSRe, err = regexp.Compile(ns[1 : len(ns)-1]); err != nil {
					return fmt.Errorf("--ns: %w", err)
				}
			}
			if ops != "" {
				f.Ops = map[string]bool{}
				for _, o := range strings.Split(ops, ",") {
					f.Ops[strings.TrimSpace(o)] = true
				}
			}
			if from != "" {
				o, err := config.ParseOptime(from)
				if err != nil {
					return fmt.Errorf("--from-ts: %w", err)
				}
				f.FromTS = o.TS()
			}
			return inspect.Dump(cmd.Context(), cfg.Spool.Dir, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	c.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&ns, "ns", "", "only this namespace (exact), or /regex/")
	fl.StringVar(&ops, "op", "", "only these ops, comma-separated (i,u,d,c,n)")
	fl.StringVar(&from, "from-ts", "", "only entries at or after this ts (seconds or T,I)")
	fl.Int64Var(&fromSeq, "from-seq", 0, "start at this seq (default: the oldest in the spool)")
	fl.Int64Var(&limit, "limit", 0, "print at most this many entries (0: all)")
	return cmd
}
