package main

import (
	"context"
	"fmt"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newSyncCmd() *cobra.Command {
	var (
		c        common
		src, dst mongoFlags
		start    startFlags
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run the reader and the applier together (py-mongo-sync's sync.py flags work)",
		Long: `Run the reader and the applier in one process. The initial copy is not
implemented yet: sync runs incremental only, so it needs a start position
(--start-optime, --optime-logfile, sync.start_optime) or a spool that already
holds entries.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				return start.apply(cfg)
			})
			if err != nil {
				return err
			}
			if err := cfg.RequireSource(); err != nil {
				return err
			}
			if err := cfg.RequireDest(); err != nil {
				return err
			}
			if cfg.Sync.StartOptime == nil && start.optimeLogfile == "" {
				if l, err := spool.List(cfg.Spool.Dir); err != nil || (len(l.Sealed) == 0 && l.Open == nil) {
					return fmt.Errorf("the initial copy is not implemented yet: give --start-optime (or --optime-logfile) to sync incrementally from a position the destination already has")
				}
			}
			log, err := logger(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error {
				return runReader(gctx, cfg, "", start.optimeLogfile, log.WithField("component", "reader"))
			})
			g.Go(func() error {
				return runApplier(gctx, cfg, applierOpts{}, nil, log.WithField("component", "applier"))
			})
			err = g.Wait()
			if err != nil && ctx.Err() != nil && err == context.Canceled {
				return nil
			}
			return err
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	start.register(cmd)
	return cmd
}
