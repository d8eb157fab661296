package main

import (
	"context"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/pipeline"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newReaderCmd() *cobra.Command {
	var (
		c       common
		src     mongoFlags
		start   startFlags
		srcFile string
	)
	cmd := &cobra.Command{
		Use:   "reader",
		Short: "Tail the source oplog (or read a mongodump oplog.bson) into the spool",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				return start.apply(cfg)
			}, "reader", func(ctx context.Context, cfg *config.Config, rec *status.Recorder, log logrus.FieldLogger) error {
				return pipeline.Read(ctx, cfg, srcFile, start.optimeLogfile, rec, log)
			})
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	start.register(cmd)
	cmd.Flags().StringVar(&srcFile, "src-file", "", "spool a mongodump oplog.bson (optionally gzip) instead of tailing a source, then mark the spool ended")
	return cmd
}
