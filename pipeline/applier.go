package pipeline

import (
	"context"
	"fmt"
	"os"

	"github.com/mongo-sync/mongo-sync/applier"
	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ApplyOptions are the applier command's own options.
type ApplyOptions struct {
	// ExitWhenDrained ends the applier once a spool marked ended (reader
	// --src-file) is fully applied.
	ExitWhenDrained bool
	// ReplayFrom rewinds into the retained segments first: a seq (1200)
	// or a ts (T,I).
	ReplayFrom string

	live  *liveSpool // sync: follow the reader's open segment
	shard string     // the shard of a sharded source it replays
	// elsewhere lists the UUIDs the other shards' catalogs place at a
	// namespace (translate.Translator.Elsewhere); nil for a replica set.
	elsewhere func(ns string) ([][]byte, error)
	// resharding reports whether a shard of the sync records a resharding
	// of a collection under way (translate.Translator.Resharding); nil for
	// a replica set.
	resharding func(orig []byte) (bool, error)
}

// Apply runs the applier on its own (the applier command): it checks the
// state file and spool against the destination, refuses a copy that has
// not finished, and applies the spool until ctx ends.
func Apply(ctx context.Context, cfg *config.Config, opts ApplyOptions, rec *status.Recorder, log logrus.FieldLogger) error {
	if err := cfg.RequireDest(); err != nil {
		return err
	}
	st, err := store.Open(cfg.Store.Path)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bindSides(ctx, cfg, st, false, true, false, log); err != nil {
		return err
	}
	if st.Stage() == store.StageCopying {
		return fmt.Errorf("the initial copy recorded in %s has not finished: run (or resume) mongo-sync copy first", cfg.Store.Path)
	}
	if err := refuseUnfinishedAddition(st, cfg); err != nil {
		return err
	}
	rec.SetStage(store.StageApplied)
	return runApplier(ctx, cfg, opts, st, rec, log)
}

// ConnectBoth checks both sides are configured and connects to them; the
// source must have an oplog.
func ConnectBoth(ctx context.Context, cfg *config.Config) (src, dst *mongo.Client, closeBoth func(), err error) {
	if err := cfg.RequireSource(); err != nil {
		return nil, nil, nil, err
	}
	if err := cfg.RequireDest(); err != nil {
		return nil, nil, nil, err
	}
	src, _, err = reader.Connect(ctx, cfg.Src)
	if err != nil {
		return nil, nil, nil, err
	}
	dst, err = mongoconn.Dest(ctx, cfg.DstMongo())
	if err != nil {
		src.Disconnect(context.Background())
		return nil, nil, nil, err
	}
	return src, dst, func() {
		src.Disconnect(context.Background())
		dst.Disconnect(context.Background())
	}, nil
}

// runApplier applies the spool with the open state file st.
func runApplier(ctx context.Context, cfg *config.Config, opts ApplyOptions, st *store.Store, rec *status.Recorder, log logrus.FieldLogger) error {
	a, done, err := newApplier(ctx, cfg, opts, st, rec, log)
	if err != nil || a == nil {
		return err
	}
	defer done()
	return a.Run(ctx)
}

// newApplier connects to the destination and opens the spool for an
// applier of st; done releases them. A nil applier and no error: ctx ended
// while it waited for the reader's spool.
func newApplier(ctx context.Context, cfg *config.Config, opts ApplyOptions, st *store.Store, rec *status.Recorder, log logrus.FieldLogger) (a *applier.Applier, done func(), err error) {
	if err := cfg.RequireDest(); err != nil {
		return nil, nil, err
	}
	client, err := mongoconn.Dest(ctx, cfg.DstMongo())
	if err != nil {
		return nil, nil, err
	}
	var sr *spool.Reader
	release := func() {
		if sr != nil {
			sr.Close()
		}
		client.Disconnect(context.Background())
	}
	defer func() {
		if a == nil { // every return without an applier (done is nil then)
			release()
		}
	}()
	// The applier may start before the reader: it waits for the spool.
	if err := os.MkdirAll(cfg.Spool.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("spool directory: %w", err)
	}
	if sr, err = spool.OpenReader(cfg.Spool.Dir); err != nil {
		return nil, nil, err
	}
	var wake chan struct{}
	if opts.live != nil {
		// After the writer recovered the spool (sealed what a crashed run
		// left open): the applier's horizon then covers all of it.
		w, ok := opts.live.writer(ctx)
		if !ok {
			return nil, nil, nil
		}
		sr.Follow(w)
		wake = opts.live.wake
	}
	if opts.ReplayFrom != "" {
		if err := rewind(ctx, sr, st, opts.ReplayFrom, log); err != nil {
			return nil, nil, err
		}
	}
	exec := &exec.Executor{Client: client, WriteConcern: mongoconn.DestOptions(cfg.DstMongo()).WriteConcern, Workers: cfg.Applier.Workers, BulkSize: cfg.Applier.BulkSize,
		RoutingRetry: cfg.Applier.RoutingRetry.D(), Log: log, Rec: rec}
	if mongos, err := sharding.WhetherMongos(ctx, client, log); err != nil {
		return nil, nil, fmt.Errorf("destination %s: %w", cfg.DstMongo().Redacted(), err)
	} else if mongos {
		exec.Keys = opts.live.shardGate().ShareKeys(sharding.NewShardKeys(client)) // one per sync, every shard's
		log.Info("destination is a mongos: statements carry the shard key of each sharded collection")
	}
	a = &applier.Applier{
		Spool: sr, SpoolDir: cfg.Spool.Dir, Store: st,
		Translator:      translator(cfg, st, rec, log, opts),
		Exec:            exec,
		BatchOps:        cfg.Applier.BatchOps,
		BatchBytes:      int(cfg.Applier.BatchBytes),
		Retention:       cfg.Spool.Retention.D(),
		MaxBytes:        int64(cfg.Spool.MaxBytes),
		ExitWhenDrained: opts.ExitWhenDrained,
		ConsistentAt:    st.CopyEnd(),
		Shard:           opts.shard,
		Gate:            opts.live.shardGate(),
		Wake:            wake,
		Rec:             rec,
		LogInterval:     cfg.Applier.LogInterval.D(),
		Log:             log,
	}
	return a, release, nil
}

func rewind(ctx context.Context, sr *spool.Reader, st *store.Store, from string, log logrus.FieldLogger) error {
	var seq uint64
	var ts config.Optime
	if _, err := fmt.Sscanf(from, "%d", &seq); err != nil || fmt.Sprint(seq) != from {
		seq = 0
		if ts, err = config.ParseOptime(from); err != nil {
			return fmt.Errorf("--replay-from %q: want a seq or a ts (T,I)", from)
		}
	}
	ck, err := applier.Rewind(ctx, sr, st, seq, ts.TS())
	if err != nil {
		return fmt.Errorf("--replay-from %s: %w", from, err)
	}
	log.WithField("seq", ck.Seq+1).Warn("checkpoint rewound: replaying retained entries")
	return nil
}

// translator routes entries by collection UUID through the state file's
// catalog (the copy records every collection it copies).
func translator(cfg *config.Config, st *store.Store, rec *status.Recorder, log logrus.FieldLogger, opts ApplyOptions) *translate.Translator {
	t := translate.NewTranslator(cfg.Namespaces())
	t.Catalog, t.Rec, t.Log, t.Elsewhere, t.Resharding = st, rec, log, opts.elsewhere, opts.resharding
	t.ShardCollections = cfg.Sync.ShardCollections
	t.ReplicaSet = cfg.Shard() == ""
	return t
}
