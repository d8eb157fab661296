package pipeline

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Read runs the reader on its own (the reader command): it tails cfg's
// source, or spools the mongodump oplog file srcFile and marks the spool
// ended, until ctx ends. A fresh spool starts where startTS says
// (optimeLog: py-mongo-sync's optime log). Tailing a source first checks
// the spool (and the state file, unless an applier holds it) against it.
func Read(ctx context.Context, cfg *config.Config, srcFile, optimeLog string, rec *status.Recorder, log logrus.FieldLogger) error {
	if srcFile == "" {
		if err := cfg.RequireSource(); err != nil {
			return err
		}
		if err := bindReader(ctx, cfg, log); err != nil {
			return err
		}
	}
	return runReader(ctx, cfg, srcFile, optimeLog, nil, rec, log)
}

// runReader runs the reader stage until ctx ends or it fails. live, if
// set, hands its spool writer to the applier of this process (sync).
func runReader(ctx context.Context, cfg *config.Config, srcFile, optimeLog string, live *liveSpool, rec *status.Recorder, log logrus.FieldLogger) error {
	filter := reader.FilterFor(cfg)
	r := &reader.Reader{
		Filter:           filter,
		BatchSize:        cfg.Reader.BatchSize,
		BatchInterval:    cfg.Reader.BatchInterval.D(),
		LogInterval:      cfg.Reader.LogInterval.D(),
		ProgressInterval: cfg.Reader.ProgressInterval.D(),
		Rec:              rec,
		Log:              log,
	}
	var sourceID string
	if srcFile != "" {
		abs, err := filepath.Abs(srcFile)
		if err != nil {
			return err
		}
		r.Source, r.EndWhenDone, sourceID = reader.FileSource{Path: abs}, true, "file"
	} else {
		if err := cfg.RequireSource(); err != nil {
			return err
		}
		client, id, err := reader.Connect(ctx, cfg.Src)
		if err != nil {
			return err
		}
		defer client.Disconnect(context.Background())
		startTS, startFrom, err := startTS(cfg, optimeLog)
		if err != nil {
			return err
		}
		src := &reader.OplogSource{Client: client, Redacted: cfg.Src.Redacted(), Start: startTS, StartFrom: startFrom, Filter: filter,
			ProbeEvery: cfg.Reader.ProgressInterval.D(), Log: log, Idle: live.idleReporter(), Standalone: reader.NoReplicaSet(id)}
		if g := live.shardGate(); g != nil {
			// A shard of a sharded source: the cross-shard gate hears the
			// idle reports first (its readThrough), then passes them on.
			g.Next, src.Idle = src.Idle, g
		}
		r.Source = src
		sourceID = id
	}
	opts := spool.Options{
		SegmentMaxBytes: int64(cfg.Spool.SegmentMaxBytes),
		SealInterval:    cfg.Spool.SealInterval.D(),
		MaxBytes:        int64(cfg.Spool.MaxBytes),
		Source:          sourceID,
		Logger:          log.WithField("component", "spool"),
	}
	if live != nil {
		opts.OnAppend, opts.OnSeal = live.notify, live.notify
	}
	w, err := spool.OpenWriter(cfg.Spool.Dir, opts)
	if err != nil {
		return err
	}
	r.W = w
	if g := live.shardGate(); g != nil {
		r.W = g.Appender(w) // registers the shard's DDL entries, moves its readThrough
	}
	if live != nil {
		live.set(w)
	}
	log.WithFields(logrus.Fields{"spool": cfg.Spool.Dir, "source": sourceID}).Info("reader started")
	runErr := r.Run(ctx)
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// startTS is where a fresh spool starts, and what said so: the T0 an
// initial copy pinned in the spool, else --start-optime / sync.start_optime,
// else py-mongo-sync's optime log, else zero (the source's newest entry).
// The reader refuses a start older than the source's oldest oplog entry.
func startTS(cfg *config.Config, optimeLog string) (bson.Timestamp, string, error) {
	if t0, ok, err := spool.Start(cfg.Spool.Dir); err != nil || ok {
		return t0, "T0, pinned by the initial copy in " + cfg.Spool.Dir, err
	}
	if cfg.Sync.StartOptime != nil {
		return cfg.Sync.StartOptime.TS(), "--start-optime / sync.start_optime", nil
	}
	if optimeLog != "" {
		ts, err := reader.ReadOptimeFile(optimeLog)
		if err != nil {
			return ts, "", fmt.Errorf("--optime-logfile: %w", err)
		}
		return ts, "--optime-logfile " + optimeLog, nil
	}
	return bson.Timestamp{}, "", nil
}
