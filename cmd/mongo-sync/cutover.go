package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/cutover"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newCutoverCmd() *cobra.Command {
	var (
		c        common
		src, dst mongoFlags
		o        cutover.Options
	)
	cmd := &cobra.Command{
		Use:   "cutover",
		Short: "The finish line of a migration: wait until the destination holds everything the source wrote, verify, say so",
		Long: `Run beside a running sync (or applier). cutover
  1. with --block-writes, blocks user writes on the source
     (setUserWriteBlockMode, MongoDB 6.0+) and takes the block's position in
     its oplog; a user with bypassWriteBlockingMode (root, restore) is not
     stopped by the block, so once the destination holds T (and again after
     verifying) any user write to a synced namespace after that position
     fails the cutover, naming them;
  2. takes T, the source's newest majority-committed oplog entry;
  3. waits until the applier's checkpoint has passed T (read from the running
     process's /status, http.listen, or from the state file when no process
     holds it), showing the entries left and an ETA;
  4. verifies (--verify full: every document, re-checking what differs once
     the applier has passed it; sample: --sample random documents per
     collection and the counts; none);
  5. prints "destination holds everything the source wrote up to T" and
     exits 0. Any failure exits non-zero and says what is left.
--timeout bounds the whole command, connecting included, and names what
it was waiting for when it expires.
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
				if o.StatusURL == "" && cfg.HTTP.Listen != "" {
					o.StatusURL = "http://" + cfg.HTTP.ListenAddr() + "/status"
				}
				cfg.HTTP.Listen = ""
				switch o.Verify {
				case "full", "sample", "none":
				default:
					return fmt.Errorf("--verify %q: want full, sample or none", o.Verify)
				}
				if o.Unblock && !o.BlockWrites {
					return errors.New("--unblock goes with --block-writes (it unblocks what cutover blocked)")
				}
				return nil
			}, "cutover", func(ctx context.Context, cfg *config.Config, _ *status.Recorder, log logrus.FieldLogger) error {
				return cutover.Run(ctx, cfg, o, cmd.OutOrStdout(), log)
			})
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	f := cmd.Flags()
	f.BoolVar(&o.BlockWrites, "block-writes", false, "block user writes on the source first (setUserWriteBlockMode, MongoDB 6.0+)")
	f.BoolVar(&o.Unblock, "unblock", false, "unblock the source's writes at the end (with --block-writes)")
	f.StringVar(&o.Verify, "verify", "full", "verification after the wait: full, sample or none")
	f.IntVar(&o.Sample, "sample", 1000, "documents per collection for --verify sample")
	f.DurationVar(&o.Timeout, "timeout", 0, "give up after this long (0: no limit)")
	f.StringVar(&o.StatusURL, "status-url", "", "the running sync's /status URL (default: from http.listen)")
	return cmd
}
