package main

import (
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/pipeline"
	"github.com/spf13/cobra"
)

func newCopyCmd() *cobra.Command {
	var (
		c        common
		src, dst mongoFlags
		drop     bool
	)
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Initial copy: pin T0 in the spool, copy the selected collections, record the copy's end",
		Long: `Copy every selected collection (options, indexes, documents) from the
source to the destination. On a fresh state file it first pins T0, the
source's newest oplog entry, in the spool: start "mongo-sync reader" with the
same spool once this command says so, and "mongo-sync applier" once it has
finished. A restart resumes, skipping what was already copied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				cfg.Sync.DropExisting = cfg.Sync.DropExisting || drop
				return nil
			}, "copy", pipeline.Copy)
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	cmd.Flags().BoolVar(&drop, "drop", false, "drop destination collections that already hold documents (sync.drop_existing)")
	return cmd
}
