package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func newSpoolCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "spool", Short: "Inspect the spool"}
	cmd.AddCommand(newSpoolDumpCmd(), newSpoolStatCmd())
	return cmd
}

type dumpFilter struct {
	ns      string
	nsRe    *regexp.Regexp
	ops     map[string]bool
	fromSeq uint64
	fromTS  bson.Timestamp
	limit   int
}

func (f dumpFilter) keep(e spool.Entry) bool {
	if e.TS.Before(f.fromTS) {
		return false
	}
	if len(f.ops) > 0 {
		op, _ := e.Raw.Lookup("op").StringValueOK()
		if !f.ops[op] {
			return false
		}
	}
	ns, _ := e.Raw.Lookup("ns").StringValueOK()
	switch {
	case f.nsRe != nil:
		return f.nsRe.MatchString(ns)
	case f.ns != "":
		return ns == f.ns
	}
	return true
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
			cfg, err := c.load(nil)
			if err != nil {
				return err
			}
			if shards, err := cfg.Shards(); err != nil {
				return err
			} else if len(shards) > 0 && c.shard == "" {
				return fmt.Errorf("the source is sharded (src.shards): each shard has its own spool; give --shard NAME (%s)", shardNames(shards))
			}
			f := dumpFilter{ns: ns, limit: int(limit)}
			if fromSeq < 0 || limit < 0 {
				return fmt.Errorf("--from-seq and --limit must not be negative")
			}
			f.fromSeq = uint64(fromSeq)
			if len(ns) > 1 && strings.HasPrefix(ns, "/") && strings.HasSuffix(ns, "/") {
				if f.nsRe, err = regexp.Compile(ns[1 : len(ns)-1]); err != nil {
					return fmt.Errorf("--ns: %w", err)
				}
			}
			if ops != "" {
				f.ops = map[string]bool{}
				for _, o := range strings.Split(ops, ",") {
					f.ops[strings.TrimSpace(o)] = true
				}
			}
			if from != "" {
				o, err := config.ParseOptime(from)
				if err != nil {
					return fmt.Errorf("--from-ts: %w", err)
				}
				f.fromTS = o.TS()
			}
			return dump(cmd.Context(), cfg.Spool.Dir, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
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

func dump(ctx context.Context, dir string, f dumpFilter, out, errOut io.Writer) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		// Not created: a reader that has not started, or a wrong path.
		return fmt.Errorf("spool %s: not started (no such directory): nothing to dump", dir)
	}
	l, err := spool.List(dir)
	if err != nil {
		return err
	}
	from := f.fromSeq
	if from == 0 && len(l.Sealed) > 0 {
		from = l.Sealed[0].First
	}
	r, err := spool.OpenReader(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	printed := 0
	var readErr error
	for from > 0 && (f.limit == 0 || printed < f.limit) {
		es, err := r.Read(ctx, from, 1000, 16<<20)
		var gap *spool.GapError
		if errors.As(err, &gap) {
			fmt.Fprintf(errOut, "warning: %v\n", gap)
			from = gap.To + 1
			continue
		}
		if err != nil {
			readErr = err
			break
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if !f.keep(e) {
				continue
			}
			line, err := dumpLine(e)
			if err != nil {
				return fmt.Errorf("seq %d: %w", e.Seq, err)
			}
			fmt.Fprintln(out, line)
			if printed++; f.limit > 0 && printed >= f.limit {
				break
			}
		}
		from = es[len(es)-1].Seq + 1
	}
	if l.Open != nil {
		if st, ok := spool.ReadWriterState(dir); ok && spool.WriterRunning(dir) {
			fmt.Fprintf(errOut, "%d more entries (seq %d-%d) sit in the open segment %s of a running reader; they are readable once it seals it\n",
				st.Entries, st.FirstSeq, st.LastSeq, st.Segment)
		} else {
			fmt.Fprintf(errOut, "open segment %s was left by a reader that is not running; it is sealed when a reader starts\n", l.Open.Name())
		}
	}
	return readErr
}

func dumpLine(e spool.Entry) (string, error) {
	op, _ := e.Raw.Lookup("op").StringValueOK()
	ns, _ := e.Raw.Lookup("ns").StringValueOK()
	b, err := bson.MarshalExtJSON(bson.D{
		{Key: "seq", Value: int64(e.Seq)}, {Key: "ts", Value: e.TS},
		{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "entry", Value: e.Raw},
	}, false, false)
	return string(b), err
}
