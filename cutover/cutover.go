// Package cutover is the finish line of a migration, run beside a running
// sync: it takes the source's newest position, waits until the
// destination holds it (following the sync's applier through its /status
// or its state file), verifies, and can block the source's writes for the
// switch. verify --live uses the same follower.
package cutover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/sirupsen/logrus"
)

// Options are the cutover command's own.
type Options struct {
	// BlockWrites blocks user writes on the source first
	// (setUserWriteBlockMode, MongoDB 6.0+); Unblock allows them again at
	// the end.
	BlockWrites, Unblock bool
	// Verify is the verification after the wait: full, sample or none;
	// Sample is the documents per collection for sample.
	Verify string
	Sample int
	// Timeout gives up after this long (0: no limit).
	Timeout time.Duration
	// StatusURL is the running sync's /status (empty: from http.listen).
	StatusURL string
}

// Run waits until the destination holds everything the source wrote up to
// T, the source's newest majority-committed entry (one per shard of a
// sharded source), verifies, and prints each step to out. Any failure is
// an error that says what is left; writes it blocked stay blocked at the
// end unless o.Unblock, and are unblocked again on failure.
func Run(ctx context.Context, cfg *config.Config, o Options, out io.Writer, log logrus.FieldLogger) (err error) {
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
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	if o.BlockWrites {
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
			if err == nil && !o.Unblock {
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
	fs := newFollowers(cfg, sd.srcs, sd.shards, o.StatusURL)
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
		fmt.Fprintf(out, "cutover: %sthe applier has passed T = %s (checkpoint %s)\n", shardPrefix(f), oplog.FormatTS(ts[i].Newest), oplog.FormatTS(p.Applied))
	}

	summary := "not verified (--verify none)"
	if o.Verify != "none" {
		vo := VerifyOptions{Show: 5, Live: true, StatusURL: o.StatusURL}
		if o.Verify == "sample" {
			vo.Sample = o.Sample
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

func shardPrefix(f *follower) string {
	if f.shard == "" {
		return ""
	}
	return "shard " + f.shard + ": "
}

// targetsString is T: one ts, or one per shard.
func targetsString(fs []*follower, ts []target) string {
	if len(fs) == 1 && fs[0].shard == "" {
		return oplog.FormatTS(ts[0].Newest)
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.shard + " " + oplog.FormatTS(ts[i].Newest)
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
