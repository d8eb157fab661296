package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/applier"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
)

// shardStage is one shard's reader, spool, copy and applier in a sharded
// sync: the same stages as a replica set's, on the shard's own spool
// directory and state file (config.ForShard).
type shardStage struct {
	name string
	cfg  *config.Config
	st   *store.Store
	rec  *status.Recorder
	live *liveSpool
	log  logrus.FieldLogger
}

// runShardedSync is sync for a sharded source: one reader, spool and
// applier per shard, in this process, into one destination. Every shard's
// T0 is pinned before any copy starts; the shards are copied one after the
// other (their destination checks must not race), each straight from the
// shard; their documents merge into the same destination collections.
// The destination is consistent once every shard's applier has passed its
// own copy's end.
func runShardedSync(ctx context.Context, cfg *config.Config, shards []config.Shard, optimeLog string, rec *status.Recorder, log logrus.FieldLogger) error {
	if err := cfg.RequireDest(); err != nil {
		return err
	}
	stages := make([]*shardStage, 0, len(shards))
	defer func() {
		for _, s := range stages {
			s.st.Close()
		}
	}()
	var names []string
	for _, sh := range shards {
		scfg := cfg.ForShard(sh)
		st, err := store.Open(scfg.Store.Path)
		if err != nil {
			return fmt.Errorf("shard %s: %w", sh.Name, err)
		}
		stages = append(stages, &shardStage{name: sh.Name, cfg: scfg, st: st, rec: rec.Shard(sh.Name), live: newLiveSpool(),
			log: log.WithField("shard", sh.Name)})
		names = append(names, sh.Name+" ("+sh.Mongo.Redacted()+")")
	}
	log.WithField("shards", strings.Join(names, ", ")).Info("sharded source: one reader, spool and applier per shard")

	// The cross-shard gate: DDL in ts order across the shards' appliers;
	// an idle shard moves by its clock where that is sound (applier.Clock).
	cluster := applier.NewCluster(log.WithField("component", "cluster"))
	for _, s := range stages {
		c, err := connectPlain(ctx, s.cfg.Src)
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.name, err)
		}
		defer c.Disconnect(context.Background())
		s.live.gate = cluster.Shard(s.name, applier.HelloClock(c))
	}

	incremental := cfg.Sync.StartOptime != nil || optimeLog != ""
	fresh := 0
	for _, s := range stages {
		if s.st.Stage() == store.StageNone {
			fresh++
		}
	}
	if fresh != 0 && fresh != len(stages) {
		return fmt.Errorf("the state files of some shards record a sync and others do not: a shard was added to src.shards (or a state file removed) after the sync began; start again with empty spool directories and state files")
	}
	for _, s := range stages {
		if s.st.Stage() != store.StageNone {
			continue
		}
		if incremental {
			s.log.Info("incremental sync: the initial copy is skipped (a start optime was given)")
			if err := s.st.SetStage(store.StageApplied); err != nil {
				return err
			}
			continue
		}
		// Every shard's T0 before any reader starts and before the copy.
		if err := pinT0(ctx, s.cfg, s.st, s.log); err != nil {
			return fmt.Errorf("shard %s: %w", s.name, err)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range stages {
		s.live.end = copier.NewEndWitness()
		g.Go(func() error {
			err := runReader(gctx, s.cfg, "", optimeLog, s.live, s.rec, s.log.WithField("component", "reader"))
			return shardErr(s.name, err)
		})
	}
	g.Go(func() error {
		for _, s := range stages {
			if s.st.Stage() != store.StageCopying {
				continue
			}
			claimed := func(ns string) bool { return claimedElsewhere(stages, s, ns) }
			if err := runCopy(gctx, s.cfg, s.st, s.rec, s.log.WithField("component", "copy"), s.live.end, claimed); err != nil {
				return shardErr(s.name, err)
			}
		}
		if gctx.Err() != nil {
			return nil
		}
		rec.SetStage("applying")
		for _, s := range stages {
			s.rec.SetStage("applying")
			g.Go(func() error {
				err := runApplier(gctx, s.cfg, applierOpts{live: s.live, shard: s.name}, s.st, s.rec, s.log.WithField("component", "applier"))
				return shardErr(s.name, err)
			})
		}
		return waitConsistent(gctx, rec, log)
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// claimedElsewhere reports whether another shard's copy has started ns.
func claimedElsewhere(stages []*shardStage, self *shardStage, ns string) bool {
	for _, o := range stages {
		if o == self {
			continue
		}
		if _, ok := o.st.Split(ns); ok || o.st.CollDone(ns) {
			return true
		}
	}
	return false
}

// waitConsistent logs once that the destination is consistent: every
// shard's applier has passed the end of its copy.
func waitConsistent(ctx context.Context, rec *status.Recorder, log logrus.FieldLogger) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if rec.Snapshot().Consistent {
			log.Info("destination is consistent: every shard's applier has passed the end of its initial copy")
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func shardErr(name string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("shard %s: %w", name, err)
}
