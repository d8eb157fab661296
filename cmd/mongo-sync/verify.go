package main

import (
	"context"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/cutover"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newVerifyCmd() *cobra.Command {
	var (
		c         common
		src, dst  mongoFlags
		show      int
		live      bool
		sample    int
		statusURL string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare source and destination: documents, indexes, options; exit 1 on any difference",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				// verify is a client of the running sync (--live reads its
				// /status): it serves no /status of its own on that address.
				if statusURL == "" && cfg.HTTP.Listen != "" {
					statusURL = "http://" + cfg.HTTP.ListenAddr() + "/status"
				}
				cfg.HTTP.Listen = ""
				return nil
			}, "verify", func(ctx context.Context, cfg *config.Config, _ *status.Recorder, log logrus.FieldLogger) error {
				return cutover.Verify(ctx, cfg, cutover.VerifyOptions{Show: show, Live: live, Sample: sample, StatusURL: statusURL}, cmd.OutOrStdout(), log)
			})
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	f := cmd.Flags()
	f.IntVar(&show, "show", 5, "list this many differing _ids per kind and namespace")
	f.BoolVar(&live, "live", false, "while writes continue: re-check what differs once the applier has passed it, report only what persists (needs the running sync's /status: http.listen)")
	f.IntVar(&sample, "sample", 0, "compare this many random documents per collection, and the counts, instead of every document")
	f.StringVar(&statusURL, "status-url", "", "the running sync's /status URL (default: from http.listen)")
	return cmd
}
