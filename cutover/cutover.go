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
	"go.mongodb.org/mongo-driver/v2/bson"
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
	// --timeout bounds the whole command, connecting included: a server
	// that accepts and never answers must not stretch it.
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	waiting := "connecting to the source and the destination"
	defer func() {
		if err != nil && o.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = &timeoutError{after: o.Timeout, waiting: waiting, err: err}
		}
	}()
	sd, err := connectWithin(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if ctx.Err() != nil {
			// The driver's Disconnect waits out a server that does not
			// answer (its connect timeout, 30 s by default).
			go sd.close()
			return
		}
		sd.close()
	}()
	if sd.router != nil {
		waiting = "checking the source cluster's balancer"
		if berr := sharding.RequireBalancerOff(ctx, sd.router); berr != nil {
			return fmt.Errorf("cutover: %w", berr)
		}
	}
	fs := newFollowers(cfg, sd.srcs, sd.shards, o.StatusURL)
	var blocks []bson.Timestamp // the block's position, per follower
	if o.BlockWrites {
		// berr, not err: the deferred unblock below must see the
		// function's own result.
		waiting = "blocking the source's user writes"
		blocker, done, berr := writeBlocker(ctx, cfg, sd)
		if berr != nil {
			return berr
		}
		defer done()
		// Each source's newest entry before the block: where the block's
		// own entry is looked for (blockPosition).
		before := make([]bson.Timestamp, len(fs))
		for i, f := range fs {
			if before[i], berr = newestOplogTS(ctx, f.src); berr != nil {
				return fmt.Errorf("cutover: %sthe source's newest oplog entry, before blocking its writes (without it the block cannot be proven): %w", shardPrefix(f), berr)
			}
		}
		if berr := blockWrites(ctx, blocker, true); berr != nil {
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
			if uerr := blockWrites(uctx, blocker, false); uerr != nil {
				err = errors.Join(err, uerr)
				return
			}
			fmt.Fprintln(out, "cutover: user writes on the source are unblocked")
		}()
		waiting = "reading the block's position in the source's oplog"
		blocks = make([]bson.Timestamp, len(fs))
		for i, f := range fs {
			if blocks[i], err = blockPosition(ctx, f.src, before[i]); err != nil {
				return fmt.Errorf("cutover: %sthe block's position in the source's oplog cannot be read, so the block cannot be proven: %w", shardPrefix(f), err)
			}
			fmt.Fprintf(out, "cutover: %sthe block's position in the source's oplog: %s\n", shardPrefix(f), oplog.FormatTS(blocks[i]))
		}
	}
	// proveBlock fails on any user write to a synced namespace after the
	// block: someone the block does not stop is writing.
	proveBlock := func() error {
		if !o.BlockWrites {
			return nil
		}
		waiting = "reading the source's oplog after the block"
		for i, f := range fs {
			w, err := userWritesAfter(ctx, f.src, f.filter, blocks[i])
			if err != nil {
				return fmt.Errorf("cutover: %sread the source's oplog after the block (%s), so the block cannot be proven: %w", shardPrefix(f), oplog.FormatTS(blocks[i]), err)
			}
			if w.N > 0 {
				return &BypassError{Shard: f.shard, Block: blocks[i], bypassWrites: w}
			}
		}
		return nil
	}

	// T on every shard (one for a replica set), then wait for each.
	waiting = "reading the source's and the applier's positions"
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
		waiting = "waiting until the destination holds T = " + T
		prog := newProgressLine(out)
		prog.prefix = shardPrefix(f)
		p, err := f.waitHolds(ctx, ts[i], false, prog.show)
		if err != nil {
			return fmt.Errorf("cutover: the destination does not hold the source up to T = %s: %s%w; left: %s", T, shardPrefix(f), err, prog.left(p))
		}
		fmt.Fprintf(out, "cutover: %sthe applier has passed T = %s (checkpoint %s)\n", shardPrefix(f), oplog.FormatTS(ts[i].Newest), oplog.FormatTS(p.Applied))
	}
	if err := proveBlock(); err != nil {
		return err
	}

	summary := "not verified (--verify none)"
	if o.Verify != "none" {
		waiting = "verifying"
		vo := VerifyOptions{Show: 5, Live: true, StatusURL: o.StatusURL}
		if o.Verify == "sample" {
			vo.Sample = o.Sample
		}
		summary, err = verifyWith(ctx, cfg, sd, vo, out)
		if err != nil {
			// Differences may be a bypass writer's doing: say so first.
			if perr := proveBlock(); perr != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return errors.Join(perr, fmt.Errorf("cutover: %w", err))
			}
			return fmt.Errorf("cutover: %w", err)
		}
		// Writes that came while verify ran count too.
		if err := proveBlock(); err != nil {
			return err
		}
	}
	if o.BlockWrites {
		fmt.Fprintf(out, "cutover: no user writes to the synced namespaces reached the source after the block (%s)\n", blocksString(fs, blocks))
	}
	fmt.Fprintf(out, "destination holds everything the source wrote up to T = %s; %s\n", T, summary)
	log.WithField("t", T).Info("cutover done")
	return nil
}

// blockWrites is setWriteBlock; a test puts a stand-in here (a source
// without setUserWriteBlockMode, and a writer it does not stop).
var blockWrites = setWriteBlock

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

// connectWithin is connectSides, ended by ctx: a client that fails to
// connect is disconnected before the error returns, and the driver's
// Disconnect waits for a server that never answers the handshake until its
// connect timeout (30 s by default), past any --timeout. What connects
// after ctx ended is disconnected in the background.
func connectWithin(ctx context.Context, cfg *config.Config, log logrus.FieldLogger) (*sides, error) {
	type result struct {
		sd  *sides
		err error
	}
	ch := make(chan result, 1)
	go func() {
		sd, err := connectSides(ctx, cfg, log)
		ch <- result{sd, err}
	}()
	select {
	case r := <-ch:
		return r.sd, r.err
	case <-ctx.Done():
	}
	// A moment for connectSides's own error, which names the server.
	select {
	case r := <-ch:
		return r.sd, r.err
	case <-time.After(time.Second):
	}
	go func() {
		if r := <-ch; r.sd != nil {
			r.sd.close()
		}
	}()
	return nil, ctx.Err()
}

// blocksString is the block's position: one ts, or one per shard.
func blocksString(fs []*follower, blocks []bson.Timestamp) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = shardPrefix(f) + oplog.FormatTS(blocks[i])
	}
	return strings.Join(parts, ", ")
}

// timeoutError is a cutover that --timeout ended: it names what the
// cutover was waiting for, then what failed.
type timeoutError struct {
	after   time.Duration
	waiting string
	err     error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("cutover: --timeout expired after %s while %s: %s", e.after, e.waiting, strings.TrimPrefix(e.err.Error(), "cutover: "))
}

func (e *timeoutError) Unwrap() error { return e.err }
