// Package pipeline runs mongo-sync's stages for one source: the reader
// that spools the oplog, the initial copy, and the applier that drains the
// spool into the destination. It pins T0 before the reader starts, moves
// the state file through its stages (none, copying, applied), hands the
// reader's spool to the applier of the same process, and for a sharded
// source runs every shard's stages in one process. cmd/mongo-sync parses
// flags and calls Sync, Copy, Read or Apply.
package pipeline

import (
	"context"
	"errors"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
)

// Sync copies, then keeps the destination in sync, in one process (the
// sync command). A fresh start pins T0 (the source's newest oplog entry),
// starts the reader from T0, copies every selected collection, then
// applies the spool from T0. A restart resumes whichever stage the state
// file records. A start optime (cfg.Sync.StartOptime, or optimeLog)
// skips the copy. A sharded source runs one reader, spool and applier per
// shard (runShardedSync).
func Sync(ctx context.Context, cfg *config.Config, optimeLog string, rec *status.Recorder, log logrus.FieldLogger) error {
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
	if err := bindSides(ctx, cfg, st, true, true, true, log); err != nil {
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
		rec.SetStage(store.StageApplied)
		return applyAdding(gctx, cfg, st, live, rec, log)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}
