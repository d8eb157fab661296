package main

import (
	"fmt"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/preflight"
	"github.com/spf13/cobra"
)

func newCheckCmd() *cobra.Command {
	var c common
	var asJSON bool
	var copyRate string
	var rateOver time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Preflight, read-only: what a sync would meet on these deployments, one line per check; exit 1 on any fail",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			rate, err := config.ParseByteSize(copyRate)
			if err != nil {
				return fmt.Errorf("--copy-rate: %w", err)
			}
			r := preflight.Run(cmd.Context(), cfg, preflight.Options{CopyRate: float64(rate), RateOver: rateOver})
			out := cmd.OutOrStdout()
			if asJSON {
				err = r.WriteJSON(out)
			} else {
				err = r.WriteText(out)
			}
			if err != nil {
				return err
			}
			if r.Failed() {
				n := 0
				for _, res := range r.Results {
					if res.Status == preflight.Fail {
						n++
					}
				}
				return fmt.Errorf("check: %d of %d checks failed", n, len(r.Results))
			}
			return nil
		},
	}
	c.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the checks as a JSON array")
	f.StringVar(&copyRate, "copy-rate", "20MiB", "the copy rate (per second) the duration and spool estimates assume")
	f.DurationVar(&rateOver, "rate-over", 5*time.Minute, "measure the oplog's write rate over this much of its newest history")
	return cmd
}
