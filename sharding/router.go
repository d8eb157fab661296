package sharding

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// OpenRouter connects to the source's mongos where src names one: src
// alone (its shards are asked for with listShards and recorded in the
// spool directory, so every later command works on the same shards), or
// src beside src.shards (the shards as listed; the copy and verify read
// through the mongos, which leaves out orphaned documents). It returns nil
// for a replica set source, or when only src.shards is given.
//
// The shards the mongos lists are recorded the first time. forSync is a
// sync opening it (verify, cutover and the --shard discovery pass false):
// a balancer that may move chunks is then an error naming what stops it, a
// cluster whose shards differ from those recorded when the sync began is
// an error (each shard's spool and state file belong to the shard), and
// hosts are recorded anew. Otherwise the balancer is not asked here
// (cutover asks it itself) and changed shards are a warning.
func OpenRouter(ctx context.Context, cfg *config.Config, forSync bool, log logrus.FieldLogger) (*mongo.Client, error) {
	if cfg.Src.Empty() {
		return nil, nil
	}
	c, mongos, err := askMongos(ctx, cfg.Src, log)
	if err != nil {
		rec, _ := cfg.Listed()
		_, serr := os.Stat(cfg.Store.Path)
		switch {
		case rec != nil || len(cfg.Src.Shards) > 0:
			return nil, fmt.Errorf("src names the source cluster's mongos, and it does not answer: %w", err)
		case serr != nil:
			return nil, fmt.Errorf("source %s does not answer, and a sync that begins needs it (to tell a replica set from a mongos, and to pin T0): %w", cfg.Src.Redacted(), err)
		}
		// A replica set's sync under way: its reader retries until the
		// source answers.
		log.WithError(err).Warn("could not ask the source whether it is a mongos; going on as the sync began, with a replica set")
		return nil, nil
	}
	if !mongos {
		c.Disconnect(context.Background())
		if len(cfg.Src.Shards) > 0 {
			return nil, fmt.Errorf("src %s is not a mongos (hello has no msg: \"isdbgrid\"): beside src.shards, src names the cluster's mongos; leave it out to read the shards alone", cfg.Src.Redacted())
		}
		return nil, nil // a replica set
	}
	fail := func(err error) (*mongo.Client, error) {
		c.Disconnect(context.Background())
		return nil, err
	}
	if forSync {
		if err := RequireBalancerOff(ctx, c); err != nil {
			if !errors.Is(err, ErrBalancer) { // the mongos did not say
				err = fmt.Errorf("src %s: %w", cfg.Src.Redacted(), err)
			}
			return fail(err)
		}
	}
	if len(cfg.Src.Shards) > 0 {
		return c, nil
	}
	listed, err := ListShards(ctx, c)
	if err != nil {
		return fail(fmt.Errorf("src %s: %w", cfg.Src.Redacted(), err))
	}
	now := make([]config.ListedShard, len(listed))
	var names []string
	for i, s := range listed {
		now[i] = config.ListedShard{ID: s.ID, Host: s.Host}
		names = append(names, s.ID+" ("+s.Host+")")
		if s.Draining {
			log.WithField("shard", s.ID).Warn("the shard is draining (removeShard): its chunks move away only while the balancer runs, which the sync needs off")
		}
	}
	id := ClusterID(ctx, c)
	recID, rec, err := cfg.Listing()
	if err != nil {
		return fail(err)
	}
	var changed error
	switch {
	case rec != nil && recID != "" && id != "" && recID != id:
		changed = fmt.Errorf("src is another cluster than when the sync began: its cluster id (config.version) was %s, and is now %s", recID, id)
	case rec != nil && !sameShardIDs(rec, now):
		changed = fmt.Errorf("the source cluster's shards changed since the sync began: recorded %s, listShards now says %s", shardIDs(rec), shardIDs(now))
	}
	if changed != nil {
		changed = fmt.Errorf("%w; each shard has its own spool and state file, so start again with empty spool directories and state files (and an empty destination, or sync.drop_existing)", changed)
		if forSync {
			return fail(changed)
		}
		log.Warn(changed.Error())
	}
	if rec == nil || (forSync && changed == nil) { // hosts may have changed (members added)
		if err := cfg.SaveListed(id, now); err != nil {
			return fail(fmt.Errorf("record the source's shards: %w", err))
		}
	}
	log.WithField("shards", strings.Join(names, ", ")).Info("the source is a mongos: its shards are read directly, the copy reads through the mongos")
	return c, nil
}

// ShardConfig is the configuration of the shard named name (--shard) of
// cfg's sharded source: one listed in src.shards, or, where no sync has
// recorded the shards of src's mongos yet, one that the mongos lists,
// asked within ctx (at most 30 s) and logging to log.
func ShardConfig(ctx context.Context, cfg *config.Config, name string, log logrus.FieldLogger) (*config.Config, error) {
	shards, err := cfg.Shards()
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 && !cfg.Src.Empty() {
		// A mongos source whose shards no sync has recorded yet: ask it.
		askCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		router, err := OpenRouter(askCtx, cfg, false, log)
		cancel()
		if err != nil {
			return nil, err
		}
		if router == nil && ctx.Err() != nil {
			// Stopped while asking: no answer, which is not "no mongos".
			return nil, fmt.Errorf("--shard %s: ask src %s for its shards: %w", name, cfg.Src.Redacted(), ctx.Err())
		}
		if router != nil {
			router.Disconnect(context.Background())
			if shards, err = cfg.Shards(); err != nil {
				return nil, err
			}
		}
	}
	var names []string
	for _, sh := range shards {
		if sh.Name == name {
			return cfg.ForShard(sh), nil
		}
		names = append(names, sh.Name)
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("--shard %s: the source is not sharded: the config lists no shards (src.shards), and src is no mongos", name)
	}
	return nil, fmt.Errorf("--shard %s: no such shard in src.shards (its shards: %s)", name, strings.Join(names, ", "))
}

func shardIDs(l []config.ListedShard) string {
	ids := make([]string, len(l))
	for i, s := range l {
		ids[i] = s.ID
	}
	slices.Sort(ids)
	return "[" + strings.Join(ids, ", ") + "]"
}

func sameShardIDs(a, b []config.ListedShard) bool { return shardIDs(a) == shardIDs(b) }

// askMongos connects to m and asks whether it is a mongos (WhetherMongos),
// within 10 s.
func askMongos(ctx context.Context, m config.Mongo, log logrus.FieldLogger) (*mongo.Client, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := mongoconn.Plain(ctx, m)
	if err != nil {
		return nil, false, err
	}
	ok, err := WhetherMongos(ctx, c, log)
	if err != nil {
		c.Disconnect(context.Background())
		return nil, false, fmt.Errorf("%s: %w", m.Redacted(), err)
	}
	return c, ok, nil
}

// WhetherMongos asks c whether it is a mongos (IsMongos), and asks again
// after an error that a moment may cure (retry.Retryable: a mongos shutting
// down, a network error) until ctx ends. IsMongos no longer hides hello's
// error behind an isMaster: without this a mongos restarting as a command
// starts would end the sync, verify or cutover, or --shard's lookup. Where
// ctx's deadline ends the retries, the error is the last answer's, which
// says more.
func WhetherMongos(ctx context.Context, c *mongo.Client, log logrus.FieldLogger) (bool, error) {
	var mongos bool
	var last error
	err := retry.Do(ctx, log, "ask the source whether it is a mongos", func() error {
		mongos, last = IsMongos(ctx, c)
		return last
	})
	if last != nil && errors.Is(err, context.DeadlineExceeded) {
		err = last
	}
	return mongos, err
}

// WatchBalancer ends a sync whose source's balancer was turned on: chunk
// moves between shards can apply writes to a moved document out of order.
// Nothing spooled is lost; the sync starts again once it is off.
func WatchBalancer(ctx context.Context, router *mongo.Client, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := RequireBalancerOff(ctx, router)
		switch {
		case err == nil:
		case errors.Is(err, ErrBalancer):
			return fmt.Errorf("during the sync: %w; nothing spooled is lost: stop the balancer, run the sync again, and run verify, as documents moved meanwhile may differ", err)
		case ctx.Err() != nil:
			return nil
		}
		// Else the mongos did not say: down for a moment is no reason to
		// stop.
	}
}
