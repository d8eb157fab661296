package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/verify"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newVerifyCmd() *cobra.Command {
	var (
		c        common
		src, dst mongoFlags
		show     int
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare source and destination: documents, indexes, options; exit 1 on any difference",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				return nil
			}, "verify", func(ctx context.Context, cfg *config.Config, _ *status.Recorder, log logrus.FieldLogger) error {
				return runVerify(ctx, cfg, show, cmd.OutOrStdout())
			})
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	cmd.Flags().IntVar(&show, "show", 5, "list this many differing _ids per kind and namespace")
	return cmd
}

func runVerify(ctx context.Context, cfg *config.Config, show int, out io.Writer) error {
	srcClient, dstClient, closeBoth, err := connectBoth(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeBoth()
	v := &verify.Verifier{Src: srcClient, Dst: dstClient, NS: cfg.Namespaces(), Show: show}
	results, err := v.Run(ctx)
	bad := 0
	for _, r := range results {
		if r.OK() {
			fmt.Fprintf(out, "ok    %s -> %s: %d documents\n", r.Src, r.Dst, r.SrcDocs)
			continue
		}
		bad++
		fmt.Fprintf(out, "DIFF  %s -> %s: source %d documents, destination %d\n", r.Src, r.Dst, r.SrcDocs, r.DstDocs)
		for _, l := range []struct {
			what string
			n    int64
			ids  []string
		}{{"missing on the destination", r.MissingN, r.Missing}, {"only on the destination", r.ExtraN, r.Extra}, {"different", r.DifferN, r.Differ}} {
			if l.n > 0 {
				fmt.Fprintf(out, "      %d %s; first _ids: %s\n", l.n, l.what, strings.Join(l.ids, ", "))
			}
		}
		for _, p := range append(r.IndexProblems, r.OptionProblems...) {
			fmt.Fprintf(out, "      %s\n", p)
		}
	}
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("verify: %d of %d namespaces differ", bad, len(results))
	}
	fmt.Fprintf(out, "verify: %d namespaces, no differences\n", len(results))
	return nil
}
