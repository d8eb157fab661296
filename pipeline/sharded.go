package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/sync/errgroup"
)

// balancerEvery is how often a sync through a mongos checks that the
// balancer stayed off (0: never; a test's stand-in router is no mongos).
var balancerEvery = 30 * time.Second

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
//
// With a mongos (router, nil without one) the copy reads through it once
// instead, which leaves out orphaned documents; each shard's copy end is
// taken from the shard once that copy is done. The balancer is checked
// every balancerEvery: one turned on ends the sync.
func runShardedSync(ctx context.Context, cfg *config.Config, shards []config.Shard, router *mongo.Client, optimeLog string, rec *status.Recorder, log logrus.FieldLogger) error {
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
	if err := bindShards(ctx, cfg, stages, router, log); err != nil {
		return err
	}

	// The cross-shard gate: DDL in ts order across the shards' appliers;
	// an idle shard moves by its clock where that is sound (gate.Clock).
	cluster := gate.NewCluster(log.WithField("component", "cluster"))
	for _, s := range stages {
		c, err := mongoconn.Plain(ctx, s.cfg.Src)
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.name, err)
		}
		defer c.Disconnect(context.Background())
		s.live.gate = cluster.Shard(s.name, gate.HelloClock(c))
	}

	incremental := cfg.Sync.StartOptime != nil || optimeLog != ""
	fresh := 0
	for _, s := range stages {
		if s.st.Stage() == store.StageNone {
			fresh++
		}
	}
	interrupted := false
	if fresh != 0 && fresh != len(stages) {
		if interrupted = !incremental && pinningInterrupted(cfg, stages); !interrupted {
			return fmt.Errorf("the state files of some shards record a sync and others do not: a shard was added to src.shards (or a state file removed) after the sync began; start again with empty spool directories and state files")
		}
		log.WithField("unpinned", fresh).Warn("a sync stopped while it pinned the shards' T0s, before any reader or copy ran: pinning the rest")
	}
	// The copy goes through the mongos when the sync begins with one, and
	// keeps its way on a restart: a sync whose shards were being copied
	// one by one (no mongos then) goes on so.
	viaRouter := false
	if router != nil {
		_, err := os.Stat(cfg.Store.Path)
		viaRouter = fresh == len(stages) || interrupted || err == nil
		if !viaRouter {
			log.Info("the shards' copies began one by one, without the mongos: they go on so")
		}
	}
	if !viaRouter && !incremental {
		if err := refuseShardedFromShards(ctx, stages); err != nil {
			return err
		}
	}
	if err := pinShards(ctx, stages, incremental); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range stages {
		s.live.end = copier.NewEndWitness()
		g.Go(func() error {
			err := runReader(gctx, s.cfg, "", optimeLog, s.live, s.rec, s.log.WithField("component", "reader"))
			return shardErr(s.name, err)
		})
	}
	if router != nil && balancerEvery > 0 {
		g.Go(func() error { return sharding.WatchBalancer(gctx, router, balancerEvery) })
	}
	g.Go(func() error {
		if viaRouter {
			if err := copyViaRouter(gctx, cfg, stages, rec, log.WithField("component", "copy")); err != nil {
				return err
			}
		}
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
		rec.SetStage(store.StageApplied)
		for _, s := range stages {
			s.rec.SetStage(store.StageApplied)
			g.Go(func() error {
				opts := ApplyOptions{live: s.live, shard: s.name,
					elsewhere:  func(ns string) ([][]byte, error) { return heldElsewhere(stages, s, ns) },
					resharding: func(orig []byte) (bool, error) { return reshardingAnywhere(stages, orig) }}
				err := runApplier(gctx, s.cfg, opts, s.st, s.rec, s.log.WithField("component", "applier"))
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

// refuseShardedFromShards refuses a copy from the shards alone (no mongos)
// of a collection the shards' routing caches say is sharded: its orphaned
// documents would be copied as owned (sharding.ShardedOnShard). Shards
// whose copy is done are not asked.
func refuseShardedFromShards(ctx context.Context, stages []*shardStage) error {
	for _, s := range stages {
		if s.st.Stage() == store.StageApplied {
			continue
		}
		c, err := mongoconn.Plain(ctx, s.cfg.Src)
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.name, err)
		}
		bad, err := sharding.ShardedOnShard(ctx, c, s.cfg.Namespaces())
		c.Disconnect(context.Background())
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.name, err)
		}
		if len(bad) > 0 {
			return fmt.Errorf("shard %s: sharded collections selected (%s): copied from the shards alone, orphaned documents would be copied as if they were owned; "+
				"set src to the cluster's mongos beside src.shards (the copy and verify then go through it)", s.name, strings.Join(bad, ", "))
		}
	}
	return nil
}

// reshardingAnywhere reports whether the state file of a shard records a
// resharding of collection orig under way (its temporary collection
// created, neither renamed nor dropped yet: store.Store.SetResharding).
func reshardingAnywhere(stages []*shardStage, orig []byte) (bool, error) {
	for _, o := range stages {
		under, err := o.st.Resharding(orig)
		if err != nil {
			return false, fmt.Errorf("shard %s: %w", o.name, err)
		}
		if under {
			return true, nil
		}
	}
	return false, nil
}

// heldElsewhere lists the collection UUIDs that the catalogs of the shards
// other than s place at destination namespace ns (a drop on s of a
// collection movePrimary moved to another shard is then not applied:
// applier/translate/moved.go).
func heldElsewhere(stages []*shardStage, s *shardStage, ns string) ([][]byte, error) {
	var out [][]byte
	for _, o := range stages {
		if o == s {
			continue
		}
		m, err := o.st.Collections()
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", o.name, err)
		}
		for u, n := range m {
			if n == ns {
				out = append(out, []byte(u))
			}
		}
	}
	return out, nil
}
