package main

import (
	"context"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/pipeline"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newSyncCmd() *cobra.Command {
	var (
		c        common
		src, dst mongoFlags
		start    startFlags
		drop     bool
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Copy, then keep the destination in sync (py-mongo-sync's sync.py flags work)",
		Long: `Run everything in one process. A fresh start pins T0 (the source's newest
oplog entry), starts the reader from T0 (the spool holds the oplog however
long the copy takes), copies every selected collection, then applies the
spool from T0; the log says when the destination became consistent. A
restart resumes whichever stage was running. --start-optime (or
--optime-logfile, sync.start_optime) skips the copy: incremental only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				cfg.Sync.DropExisting = cfg.Sync.DropExisting || drop
				return start.apply(cfg)
			}, "sync", func(ctx context.Context, cfg *config.Config, rec *status.Recorder, log logrus.FieldLogger) error {
				return pipeline.Sync(ctx, cfg, start.optimeLogfile, rec, log)
			})
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	start.register(cmd)
	cmd.Flags().BoolVar(&drop, "drop", false, "drop destination collections that already hold documents (sync.drop_existing)")
	return cmd
}
