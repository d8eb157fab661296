package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

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
		if err := copyData(ctx, &rcfg, cst, rec, log, nil, nil); err != nil {
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
