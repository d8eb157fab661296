package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

type cutoverOpts struct {
	blockWrites bool
	unblock     bool
	verify      string
	sample      int
	timeout     time.Duration
	statusURL   string
}

func newCutoverCmd() *cobra.Command {
	var (
		c        common
		src, dst mongoFlags
		o        cutoverOpts
	)
	cmd := &cobra.Command{
		Use:   "cutover",
		Short: "The finish line of a migration: wait until the destination holds everything the source wrote, verify, say so",
		Long: `Run beside a running sync (or applier). cutover
  1. with --block-writes, blocks user writes on the source
     (setUserWriteBlockMode, MongoDB 6.0+);
  2. takes T, the source's newest majority-committed oplog entry;
  3. waits until the applier's checkpoint has passed T (read from the running
     process's /status, http.listen, or from the state file when no process
     holds it), showing the entries left and an ETA;
  4. verifies (--verify full: every document, re-checking what differs once
     the applier has passed it; sample: --sample random documents per
     collection and the counts; none);
  5. prints "destination holds everything the source wrote up to T" and
     exits 0. Any failure exits non-zero and says what is left.
Writes stay blocked at the end unless --unblock is given; a failed or
timed-out cutover unblocks what it blocked. Killed, it can be run again: it
takes a new T and finishes the same way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				// cutover is a client of the running sync: it serves no
				// /status of its own on the sync's address.
				if o.statusURL == "" && cfg.HTTP.Listen != "" {
					o.statusURL = "http://" + cfg.HTTP.ListenAddr() + "/status"
				}
				cfg.HTTP.Listen = ""
				switch o.verify {
				case "full", "sample", "none":
				default:
					return fmt.Errorf("--verify %q: want full, sample or none", o.verify)
				}
				if o.unblock && !o.blockWrites {
					return errors.New("--unblock goes with --block-writes (it unblocks what cutover blocked)")
				}
				return nil
			}, "cutover", func(ctx context.Context, cfg *config.Config, _ *status.Recorder, log logrus.FieldLogger) error {
				return runCutover(ctx, cfg, o, cmd.OutOrStdout(), log)
			})
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	f := cmd.Flags()
	f.BoolVar(&o.blockWrites, "block-writes", false, "block user writes on the source first (setUserWriteBlockMode, MongoDB 6.0+)")
	f.BoolVar(&o.unblock, "unblock", false, "unblock the source's writes at the end (with --block-writes)")
	f.StringVar(&o.verify, "verify", "full", "verification after the wait: full, sample or none")
	f.IntVar(&o.sample, "sample", 1000, "documents per collection for --verify sample")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: no limit)")
	f.StringVar(&o.statusURL, "status-url", "", "the running sync's /status URL (default: from http.listen)")
	return cmd
}

// errNoWriteBlock: the source has no setUserWriteBlockMode.
var errNoWriteBlock = errors.New("the source does not support setUserWriteBlockMode (MongoDB 6.0 and later have it): " +
	"stop the application's writes to the source yourself, then run cutover without --block-writes")

// setWriteBlock blocks or unblocks user writes on the source.
func setWriteBlock(ctx context.Context, src *mongo.Client, on bool) error {
	err := src.Database("admin").RunCommand(ctx, bson.D{{Key: "setUserWriteBlockMode", Value: 1}, {Key: "global", Value: on}}).Err()
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == 59 || ce.HasErrorLabel("CommandNotFound") || strings.Contains(strings.ToLower(ce.Message), "no such command")) {
		return errNoWriteBlock
	}
	if err != nil {
		verb := "block"
		if !on {
			verb = "unblock"
		}
		return fmt.Errorf("%s the source's user writes (setUserWriteBlockMode): %w", verb, err)
	}
	return nil
}

func runCutover(ctx context.Context, cfg *config.Config, o cutoverOpts, out io.Writer, log logrus.FieldLogger) (err error) {
	sd, err := connectSides(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sd.close()
	if sd.router != nil {
		if berr := sharding.RequireBalancerOff(ctx, sd.router); berr != nil {
			return fmt.Errorf("cutover: %w", berr)
		}
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if o.blockWrites {
		// berr, not err: the deferred unblock below must see the
		// function's own result.
		blocker, done, berr := writeBlocker(ctx, cfg, sd)
		if berr != nil {
			return berr
		}
		defer done()
		if berr := setWriteBlock(ctx, blocker, true); berr != nil {
			return berr
		}
		fmt.Fprintln(out, "cutover: user writes on the source are blocked")
		defer func() {
			if err == nil && !o.unblock {
				fmt.Fprintln(out, "cutover: user writes on the source stay blocked (run cutover --block-writes --unblock, or setUserWriteBlockMode with global: false, to allow them)")
				return
			}
			// Failed, or asked to: allow writes again.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if uerr := setWriteBlock(uctx, blocker, false); uerr != nil {
				err = errors.Join(err, uerr)
				return
			}
			fmt.Fprintln(out, "cutover: user writes on the source are unblocked")
		}()
	}

	// T on every shard (one for a replica set), then wait for each.
	fs := newFollowers(cfg, sd.srcs, sd.shards, o.statusURL)
	ts := make([]target, len(fs))
	for i, f := range fs {
		p, perr := f.position(ctx)
		if perr != nil && !errors.Is(perr, errNoProcess) {
			return fmt.Errorf("cutover: %s%w", shardPrefix(f), perr)
		}
		if ts[i], err = f.target(ctx, p.Applied); err != nil {
			return fmt.Errorf("cutover: %s%w", shardPrefix(f), err)
		}
	}
	T := targetsString(fs, ts)
	fmt.Fprintf(out, "cutover: T = %s (the source's newest majority-committed entry); waiting until the destination holds it\n", T)
	for i, f := range fs {
		prog := newProgressLine(out)
		prog.prefix = shardPrefix(f)
		p, err := f.waitHolds(ctx, ts[i], false, prog.show)
		if err != nil {
			return fmt.Errorf("cutover: the destination does not hold the source up to T = %s: %s%w; left: %s", T, shardPrefix(f), cause(ctx, err), prog.left(p))
		}
		fmt.Fprintf(out, "cutover: %sthe applier has passed T = %s (checkpoint %s)\n", shardPrefix(f), fmtTS(ts[i].Newest), fmtTS(p.Applied))
	}

	summary := "not verified (--verify none)"
	if o.verify != "none" {
		vo := verifyOpts{show: 5, live: true, statusURL: o.statusURL}
		if o.verify == "sample" {
			vo.sample = o.sample
		}
		summary, err = verifyWith(ctx, cfg, sd, vo, out)
		if err != nil {
			return fmt.Errorf("cutover: %w", cause(ctx, err))
		}
	}
	fmt.Fprintf(out, "destination holds everything the source wrote up to T = %s; %s\n", T, summary)
	log.WithField("t", T).Info("cutover done")
	return nil
}

// writeBlocker is where setUserWriteBlockMode goes: the source, or for a
// sharded source its mongos (src.uri / src.hosts), which blocks the whole
// cluster; done disconnects what it connected.
func writeBlocker(ctx context.Context, cfg *config.Config, sd *sides) (*mongo.Client, func(), error) {
	if len(sd.shards) == 0 {
		return sd.srcs[0], func() {}, nil
	}
	if cfg.Src.Empty() {
		return nil, nil, errors.New("--block-writes on a sharded source needs its mongos in src.uri (or src.hosts): " +
			"user writes are blocked cluster-wide through the mongos; or stop the application's writes yourself and run cutover without --block-writes")
	}
	c, err := mongoconn.Plain(ctx, cfg.Src)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Disconnect(context.Background()) }, nil
}

func shardPrefix(f *follower) string {
	if f.shard == "" {
		return ""
	}
	return "shard " + f.shard + ": "
}

// targetsString is T: one ts, or one per shard.
func targetsString(fs []*follower, ts []target) string {
	if len(fs) == 1 && fs[0].shard == "" {
		return fmtTS(ts[0].Newest)
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.shard + " " + fmtTS(ts[i].Newest)
	}
	return strings.Join(parts, ", ")
}

// cause names a timeout for what it is.
func cause(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("--timeout expired (%w)", err)
	}
	return err
}

// progressLine prints the wait's progress when it changes (at most every
// 2 s, at least every 10 s): where the applier is, the entries left and an
// ETA from the apply rate over the last 10 s.
type progressLine struct {
	out     io.Writer
	prefix  string // the shard, for a sharded source
	last    time.Time
	lastMsg string
	samples []rateSample
	rate    float64
}

type rateSample struct {
	at    time.Time
	total int64
}

func newProgressLine(out io.Writer) *progressLine { return &progressLine{out: out} }

func (l *progressLine) show(p position) {
	now := time.Now()
	if p.Live {
		l.samples = append(l.samples, rateSample{now, p.AppliedTotal})
		for len(l.samples) > 2 && now.Sub(l.samples[1].at) >= 10*time.Second {
			l.samples = l.samples[1:]
		}
		first := l.samples[0]
		if dt := now.Sub(first.at).Seconds(); dt >= 1 && p.AppliedTotal >= first.total {
			l.rate = float64(p.AppliedTotal-first.total) / dt
		}
	}
	msg := l.left(p)
	if since := now.Sub(l.last); since < 2*time.Second || (msg == l.lastMsg && since < 10*time.Second) {
		return
	}
	l.last, l.lastMsg = now, msg
	fmt.Fprintf(l.out, "cutover: %swaiting: %s\n", l.prefix, msg)
}

// left says what is left to apply.
func (l *progressLine) left(p position) string {
	var b strings.Builder
	switch {
	case !p.Live:
		b.WriteString("no running process reports progress (start sync or applier); ")
	case !p.Consistent:
		fmt.Fprintf(&b, "stage %s, the initial copy is not done or not yet passed; ", p.Stage)
	}
	fmt.Fprintf(&b, "applied through %s", fmtTS(p.Applied))
	if p.Left >= 0 {
		fmt.Fprintf(&b, ", %d entries left", p.Left)
		if p.Left > 0 && p.Live && l != nil && len(l.samples) > 1 {
			if l.rate > 0 {
				fmt.Fprintf(&b, ", ETA %s at %.0f entries/s", (time.Duration(float64(p.Left)/l.rate*1000) * time.Millisecond).Round(time.Second), l.rate)
			} else {
				b.WriteString(", nothing applied in the last 10 s")
			}
		}
	}
	return b.String()
}
