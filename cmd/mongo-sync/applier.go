package main

import (
	"context"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/pipeline"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newApplierCmd() *cobra.Command {
	var (
		c    common
		dst  mongoFlags
		opts pipeline.ApplyOptions
	)
	cmd := &cobra.Command{
		Use:   "applier",
		Short: "Apply the spool to the destination",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				return nil
			}, "applier", func(ctx context.Context, cfg *config.Config, rec *status.Recorder, log logrus.FieldLogger) error {
				return pipeline.Apply(ctx, cfg, opts, rec, log)
			})
		},
	}
	c.register(cmd)
	dst.register(cmd, "dst")
	f := cmd.Flags()
	f.BoolVar(&opts.ExitWhenDrained, "exit-when-drained", false, "exit 0 once a spool marked ended (reader --src-file) is fully applied")
	f.StringVar(&opts.ReplayFrom, "replay-from", "", "rewind into the retained segments first: a seq (e.g. 1200) or a ts (T,I)")
	return cmd
}
