package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/applier"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/errgroup"
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
				return runSync(ctx, cfg, start.optimeLogfile, rec, log)
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

func runSync(ctx context.Context, cfg *config.Config, optimeLog string, rec *status.Recorder, log logrus.FieldLogger) error {
	if err := cfg.RequireSource(); err != nil {
		return err
	}
	if err := cfg.RequireDest(); err != nil {
		return err
	}
	router, err := sharding.OpenRouter(ctx, cfg, true, log)
	if err != nil {
		return err
	}
	if router != nil {
		defer router.Disconnect(context.Background())
	}
	shards, err := cfg.Shards()
	if err != nil {
		return err
	}
	if len(shards) > 0 {
		return runShardedSync(ctx, cfg, shards, router, optimeLog, rec, log)
	}
	st, err := store.Open(cfg.Store.Path)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bindSides(ctx, cfg, st, true, true, log); err != nil {
		return err
	}
	incremental := cfg.Sync.StartOptime != nil || optimeLog != ""
	if st.Stage() == store.StageNone && incremental {
		log.Info("incremental sync: the initial copy is skipped (a start optime was given)")
		if err := st.SetStage(store.StageApplied); err != nil {
			return err
		}
	}
	if st.Stage() == store.StageNone {
		// Pin T0 before the reader starts, so it spools from T0.
		if err := pinT0(ctx, cfg, st, log); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	live := newLiveSpool()
	live.end = copier.NewEndWitness() // the copy's end from the reader's cursor (copyEnd)
	g.Go(func() error {
		return runReader(gctx, cfg, "", optimeLog, live, rec, log.WithField("component", "reader"))
	})
	g.Go(func() error {
		if st.Stage() == store.StageCopying {
			if err := runCopy(gctx, cfg, st, rec, log.WithField("component", "copy"), live.end, nil); err != nil {
				return err
			}
		}
		if gctx.Err() != nil {
			return nil
		}
		rec.SetStage("applying")
		return runApplier(gctx, cfg, applierOpts{live: live}, st, rec, log.WithField("component", "applier"))
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// liveSpool hands the reader's spool writer to the applier of the same
// process: the applier reads the open segment through it and is woken on
// every append and seal, so an entry does not wait for a seal (issue 13).
type liveSpool struct {
	wake  chan struct{}
	ready chan struct{} // closed once w is set
	w     *spool.Writer
	end   *copier.EndWitness // hears the reader's idle reports (idleReporter)
	// gate orders this shard's applier with the other shards' (a sharded
	// source); nil for a replica set.
	gate *applier.ShardGate
}

// shardGate is the cross-shard gate, nil outside a sharded sync.
func (l *liveSpool) shardGate() *applier.ShardGate {
	if l == nil {
		return nil
	}
	return l.gate
}

func newLiveSpool() *liveSpool {
	return &liveSpool{wake: make(chan struct{}, 1), ready: make(chan struct{})}
}

// notify wakes the applier; a wake already pending covers this one.
func (l *liveSpool) notify() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// set hands over w, once it has recovered the spool.
func (l *liveSpool) set(w *spool.Writer) {
	l.w = w
	close(l.ready)
}

// writer waits for the reader's writer; false if ctx ends first.
func (l *liveSpool) writer(ctx context.Context) (*spool.Writer, bool) {
	select {
	case <-l.ready:
		return l.w, true
	case <-ctx.Done():
		return nil, false
	}
}

func fmtTS(ts bson.Timestamp) string { return fmt.Sprintf("%d,%d", ts.T, ts.I) }
