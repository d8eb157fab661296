package cutover

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/pipeline"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/verify"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// VerifyOptions are the verify command's own (and cutover's verification).
type VerifyOptions struct {
	// Show lists this many differing _ids per kind and namespace.
	Show int
	// Live re-checks what differs once the applier has passed it, and
	// reports only what persists (needs the running sync's /status).
	Live bool
	// Sample compares this many random documents per collection, and the
	// counts, instead of every document (0: every document).
	Sample int
	// StatusURL is the running sync's /status (empty: from http.listen).
	StatusURL string
}

// Verify compares the source (through its mongos, or every shard) with the
// destination and prints every namespace to out: the verify command. Any
// difference is an error.
func Verify(ctx context.Context, cfg *config.Config, o VerifyOptions, out io.Writer, log logrus.FieldLogger) error {
	sd, err := connectSides(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sd.close()
	_, err = verifyWith(ctx, cfg, sd, o, out)
	return err
}

// verifyWith compares and prints; it returns the summary line.
func verifyWith(ctx context.Context, cfg *config.Config, sd *sides, o VerifyOptions, out io.Writer) (string, error) {
	v := &verify.Verifier{Src: sd.srcs[0], Dst: sd.dst, NS: cfg.Namespaces(), Show: o.Show, Sample: o.Sample}
	if sd.router != nil {
		v.Src = sd.router // the cluster's documents, orphans left out
	} else if len(sd.shards) > 0 {
		v.Shards = sd.srcs
		for i, c := range sd.srcs {
			bad, err := sharding.ShardedOnShard(ctx, c, cfg.Namespaces())
			if err != nil {
				return "", fmt.Errorf("shard %s: %w", sd.shards[i].Name, err)
			}
			if len(bad) > 0 {
				return "", fmt.Errorf("shard %s: sharded collections selected (%s): verified from the shards alone, orphaned documents would count as owned; "+
					"set src to the cluster's mongos beside src.shards", sd.shards[i].Name, strings.Join(bad, ", "))
			}
		}
	}
	if o.Live {
		v.Live = &verify.Live{Settle: settleAll(newFollowers(cfg, sd.srcs, sd.shards, o.StatusURL)), Watch: verify.WatchOplogs(sd.srcs)}
	}
	results, err := v.Run(ctx)
	bad := 0
	for _, r := range results {
		sampled := ""
		if o.Sample > 0 {
			sampled = fmt.Sprintf(" (%d sampled)", r.Sampled)
		}
		if r.UnsettledN > 0 {
			fmt.Fprintf(out, "note  %s -> %s: %d changed on the source in every re-check, not compared: %s\n", r.Src, r.Dst, r.UnsettledN, strings.Join(r.Unsettled, ", "))
		}
		if r.OK() {
			fmt.Fprintf(out, "ok    %s -> %s: %d documents%s\n", r.Src, r.Dst, r.SrcDocs, sampled)
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
		if r.CountProblem != "" {
			fmt.Fprintf(out, "      %s\n", r.CountProblem)
		}
		for _, p := range append(r.IndexProblems, r.OptionProblems...) {
			fmt.Fprintf(out, "      %s\n", p)
		}
	}
	if err != nil {
		return "", err
	}
	if bad > 0 {
		return "", fmt.Errorf("verify: %d of %d namespaces differ", bad, len(results))
	}
	sum := fmt.Sprintf("verify: %d namespaces, no differences", len(results))
	fmt.Fprintln(out, sum)
	return sum, nil
}

// sides are the connected source (one client, or one per shard of a
// sharded source, in src.shards order) and destination.
type sides struct {
	srcs   []*mongo.Client
	shards []config.Shard // nil for a replica set
	// router is a sharded source's mongos, where src names one: documents
	// are read through it; nil otherwise.
	router *mongo.Client
	dst    *mongo.Client
}

func (s *sides) close() {
	for _, c := range append(s.srcs, s.dst, s.router) {
		if c != nil {
			c.Disconnect(context.Background())
		}
	}
}

// connectSides connects to the source (every shard of a sharded source)
// and the destination.
func connectSides(ctx context.Context, cfg *config.Config, log logrus.FieldLogger) (*sides, error) {
	router, err := sharding.OpenRouter(ctx, cfg, false, log)
	if err != nil {
		return nil, err
	}
	shards, err := cfg.Shards()
	if err != nil {
		if router != nil {
			router.Disconnect(context.Background())
		}
		return nil, err
	}
	if len(shards) == 0 {
		src, dst, _, err := pipeline.ConnectBoth(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &sides{srcs: []*mongo.Client{src}, dst: dst}, nil
	}
	sd := &sides{shards: shards, router: router}
	if err := cfg.RequireDest(); err != nil {
		sd.close()
		return nil, err
	}
	for _, sh := range shards {
		c, _, err := reader.Connect(ctx, sh.Mongo)
		if err != nil {
			sd.close()
			return nil, fmt.Errorf("shard %s: %w", sh.Name, err)
		}
		sd.srcs = append(sd.srcs, c)
	}
	if sd.dst, err = mongoconn.Dest(ctx, cfg.DstMongo()); err != nil {
		sd.close()
		return nil, err
	}
	return sd, nil
}
