package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/applier"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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
	// an idle shard moves by its clock where that is sound (applier.Clock).
	cluster := applier.NewCluster(log.WithField("component", "cluster"))
	for _, s := range stages {
		c, err := mongoconn.Plain(ctx, s.cfg.Src)
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
	// Every shard's T0 before any reader starts and before the copy. Each
	// is read first (a query of each shard, which takes a while), then all
	// are recorded at once, so that a sync stopped in between rarely
	// leaves some recorded and others not.
	type pin struct {
		s   *shardStage
		t0  copier.Pin
		via string
	}
	var pins []pin
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
		t0, via, err := readT0(ctx, s.cfg)
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.name, err)
		}
		pins = append(pins, pin{s, t0, via})
	}
	for _, p := range pins {
		if err := recordT0(p.s.cfg, p.s.st, p.t0, p.via, p.s.log); err != nil {
			return fmt.Errorf("shard %s: %w", p.s.name, err)
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

// copyViaRouter is the initial copy of a sharded source through its
// mongos (cfg.Src): one copy of the whole cluster, which leaves out
// orphaned documents. Its progress has a state file of its own (store.path
// itself, which a sharded sync does not otherwise use). Every shard's T0
// was pinned before, so the copy starts after each of them.
//
// Once it is done, each shard still copying gets what a copy of the shard
// alone would have recorded (handCopyOver), then its own copy end, taken
// from the shard.
// A shard must not know a collection it does not hold: it would take
// writes to a later collection of that name for writes to a dropped one.
func copyViaRouter(ctx context.Context, cfg *config.Config, stages []*shardStage, rec *status.Recorder, log logrus.FieldLogger) error {
	pending := false
	for _, s := range stages {
		pending = pending || s.st.Stage() == store.StageCopying
	}
	if !pending {
		return nil
	}
	cst, err := store.Open(cfg.Store.Path)
	if err != nil {
		return fmt.Errorf("the copy's state file: %w", err)
	}
	defer cst.Close()
	start := time.Now()
	if cst.Stage() == store.StageNone {
		if err := cst.SetT0(stages[0].st.T0()); err != nil {
			return err
		}
		if err := cst.SetStage(store.StageCopying); err != nil {
			return err
		}
	}
	if cst.Stage() == store.StageCopying {
		rcfg := *cfg
		rcfg.Src.Shards = nil
		log.WithField("mongos", cfg.Src.Redacted()).Info("initial copy through the mongos (orphaned documents are left out)")
		if err := copyData(ctx, &rcfg, cst, rec, log, nil); err != nil {
			return err
		}
		if err := cst.SetStage(store.StageApplied); err != nil {
			return err
		}
	}
	catalog, err := cst.Collections()
	if err != nil {
		return err
	}
	deferred, err := cst.DeferredWork()
	if err != nil {
		return err
	}
	// Every shard still copying is handed its part first, and only then
	// does any record its copy end: a hand-over that matched nothing is an
	// error before any shard moves on, so a rerun checks it again.
	handed := 0
	resumedNone := true // every shard is handed over in this run
	var clients []*mongo.Client
	defer func() {
		for _, c := range clients {
			c.Disconnect(context.Background())
		}
	}()
	var copying []*shardStage
	for _, s := range stages {
		if s.st.Stage() != store.StageCopying {
			resumedNone = false
			continue
		}
		c, _, err := reader.Connect(ctx, s.cfg.Src)
		if err != nil {
			return shardErr(s.name, err)
		}
		clients, copying = append(clients, c), append(copying, s)
		n, err := handCopyOver(ctx, c, cfg, s, catalog, deferred)
		if err != nil {
			return shardErr(s.name, err)
		}
		handed += n
	}
	if resumedNone && handed == 0 && len(catalog) > 0 {
		return fmt.Errorf("none of the %d collections the copy through the mongos copied is on any shard as listed there: the shards' collections could not be matched by UUID, and a shard's applier needs them", len(catalog))
	}
	for i, s := range copying {
		if err := recordCopyEnd(ctx, clients[i], s.st, s.live.end, s.rec, s.log.WithField("component", "copy"), start); err != nil {
			return shardErr(s.name, err)
		}
	}
	return nil
}

// pinningInterrupted reports whether state files of which some record no
// sync are those of a sync stopped while it pinned the shards' T0s: no
// copy through the mongos began (its state file is absent), and every
// shard that records a sync holds its T0 only (the copying stage, nothing
// copied, a spool no writer ever opened whose start is that T0), for no
// reader or copy starts before every T0 is recorded. Then the others may
// still be pinned. A shard added after a sync began meets shards whose
// readers opened their spools.
func pinningInterrupted(cfg *config.Config, stages []*shardStage) bool {
	if _, err := os.Stat(cfg.Store.Path); err == nil {
		return false
	}
	for _, s := range stages {
		switch s.st.Stage() {
		case store.StageNone:
		case store.StageCopying:
			if s.st.CopyStarted() || spool.EverOpened(s.cfg.Spool.Dir) {
				return false
			}
			l, err := spool.List(s.cfg.Spool.Dir)
			if err != nil || len(l.Sealed) > 0 || l.Open != nil {
				return false
			}
			start, ok, err := spool.Start(s.cfg.Spool.Dir)
			if err != nil || !ok || start.After(s.st.T0()) { // at or before T0 (copier.PinStart)
				return false
			}
		default:
			return false
		}
	}
	return true
}

// handCopyOver gives shard s what a copy of the shard alone would have
// recorded: the catalog entries of the collections it holds (by UUID,
// listed on the shard itself), and the copy's deferred work (unique
// indexes, values moved aside) on those collections. Listing the shard's
// databases must not silently leave any out: a user who may not list them
// all is an error here, not a shorter list.
func handCopyOver(ctx context.Context, shard *mongo.Client, cfg *config.Config, s *shardStage, catalog map[string]string, deferred []store.Deferred) (int, error) {
	held, err := copier.ListSelected(ctx, shard, cfg.Namespaces(), options.ListDatabases().SetAuthorizedDatabases(false))
	if err != nil {
		return 0, fmt.Errorf("list the shard's collections for the copy's hand-over (the shard's user needs listDatabases and listCollections): %w", err)
	}
	holds := map[string]bool{} // destination namespaces
	for _, h := range held {
		if ns, ok := catalog[string(h.UUID)]; ok && h.UUID != nil {
			if err := s.st.SetCollection(h.UUID, ns); err != nil {
				return 0, err
			}
			holds[ns] = true
		}
	}
	nd := 0
	for _, d := range deferred {
		if holds[d.NS] {
			if err := s.st.PutDeferred(d); err != nil {
				return 0, err
			}
			nd++
		}
	}
	s.log.WithFields(logrus.Fields{"collections": len(holds), "deferred": nd}).Info("the copy through the mongos handed over to the shard")
	return len(holds), nil
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
