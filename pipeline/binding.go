package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/binding"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// bindSides checks what the state file st and the spool belong to against
// the sides this command connects to (binding.Check), before anything else
// is written. withSrc / withDst say which sides the command has;
// addOnline, that it copies namespaces added to sync.dbs before its
// applier goes on (copyAdded), so an addition is recorded, not refused.
func bindSides(ctx context.Context, cfg *config.Config, st *store.Store, withSrc, withDst, addOnline bool, log logrus.FieldLogger) error {
	c := &binding.Check{NS: cfg.Namespaces(), Store: st, StatePath: cfg.Store.Path, SpoolDir: cfg.Spool.Dir,
		OwnsSpool: withSrc, AddOnline: addOnline, Shard: cfg.Shard() != "", Log: log}
	if withSrc {
		src, _, err := reader.Connect(ctx, cfg.Src)
		if err != nil {
			return err
		}
		defer src.Disconnect(context.Background())
		c.Src, c.SrcName = src, cfg.Src.Redacted()
	}
	if withDst {
		dst, err := mongoconn.Dest(ctx, cfg.DstMongo())
		if err != nil {
			return err
		}
		defer dst.Disconnect(context.Background())
		c.Dst, c.DstName = dst, cfg.DstMongo().Redacted()
	}
	return c.Run(ctx)
}

// bindReader is the separate reader's check: the source against the spool,
// and against the state file when the applier does not hold it.
func bindReader(ctx context.Context, cfg *config.Config, log logrus.FieldLogger) error {
	st, err := store.OpenReadOnly(cfg.Store.Path)
	busy := false
	switch {
	case errors.Is(err, store.ErrNotStarted):
		st = nil
	case errors.Is(err, store.ErrBusy):
		log.WithField("state", cfg.Store.Path).Info("the state file is held (an applier runs): the applier checks the spool against it")
		st, busy = nil, true
	case err != nil:
		return err
	}
	if st != nil {
		defer st.Close()
	}
	src, _, err := reader.Connect(ctx, cfg.Src)
	if err != nil {
		return err
	}
	defer src.Disconnect(context.Background())
	c := &binding.Check{Src: src, SrcName: cfg.Src.Redacted(), NS: cfg.Namespaces(), Store: st, StateReadOnly: true, StateBusy: busy,
		StatePath: cfg.Store.Path, SpoolDir: cfg.Spool.Dir, OwnsSpool: true, Shard: cfg.Shard() != "", Log: log}
	return c.Run(ctx)
}

// bindShards checks each shard's state file and spool (bindSides), and,
// through the source's mongos when there is one, that the destination is
// not the source cluster: a shard read directly sees mongo-sync's marker
// only when it is the primary shard of the reserved database.
func bindShards(ctx context.Context, cfg *config.Config, stages []*shardStage, router *mongo.Client, log logrus.FieldLogger) error {
	if router != nil {
		dst, err := mongoconn.Dest(ctx, cfg.DstMongo())
		if err != nil {
			return err
		}
		defer dst.Disconnect(context.Background())
		c := &binding.Check{Src: router, SrcName: cfg.Src.Redacted(), Dst: dst, DstName: cfg.DstMongo().Redacted(),
			NS: cfg.Namespaces(), SpoolDir: cfg.Spool.Dir, Log: log}
		if err := c.Run(ctx); err != nil {
			return err
		}
	}
	for _, s := range stages {
		if err := bindSides(ctx, s.cfg, s.st, true, true, false, s.log); err != nil {
			return fmt.Errorf("shard %s: %w", s.name, err)
		}
	}
	return nil
}
