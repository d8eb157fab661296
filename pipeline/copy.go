package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/term"
)

// Copy runs the initial copy on its own (the copy command): it checks the
// state file and spool against both sides, pins T0 on a fresh state file,
// copies (resuming what a stopped copy began), and records the copy's
// end. The reader may start once T0 is pinned, the applier once Copy is
// done.
func Copy(ctx context.Context, cfg *config.Config, rec *status.Recorder, log logrus.FieldLogger) error {
	// Bad input first: a copy without both sides writes no state file.
	if err := cfg.RequireSource(); err != nil {
		return err
	}
	if err := cfg.RequireDest(); err != nil {
		return err
	}
	st, err := store.Open(cfg.Store.Path)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bindSides(ctx, cfg, st, true, true, false, log); err != nil {
		return err
	}
	if err := refuseUnfinishedAddition(st, cfg); err != nil {
		return err
	}
	return runCopy(ctx, cfg, st, rec, log, nil, nil)
}

// runCopy runs the initial copy recorded in st: pin T0 (fresh), copy
// (resuming), record the copy's end and move st to the applying stage.
// end, if set, is the reader of the same process (sync), which can tell
// the copy's end without another read of the oplog (copyEnd).
//
// claimed, if set, tells whether another shard's copy of a sharded source
// has started a collection (copier.Copier.Claimed).
func runCopy(ctx context.Context, cfg *config.Config, st *store.Store, rec *status.Recorder, log logrus.FieldLogger, end *copier.EndWitness, claimed func(string) bool) error {
	if st.Stage() == store.StageApplied {
		log.Info("the initial copy is already done")
		return nil
	}
	start := time.Now()
	if err := copyData(ctx, cfg, st, rec, log, claimed, nil); err != nil {
		return err
	}
	srcClient, _, err := reader.Connect(ctx, cfg.Src)
	if err != nil {
		return err
	}
	defer srcClient.Disconnect(context.Background())
	return recordCopyEnd(ctx, srcClient, st, end, rec, log, start)
}

// copyData copies the selected collections from cfg.Src (those only
// keeps, when set), recording its progress in st (ranges and collections
// done; T0 pinned if not yet).
func copyData(ctx context.Context, cfg *config.Config, st *store.Store, rec *status.Recorder, log logrus.FieldLogger, claimed func(string) bool, only func(string, []byte) bool) error {
	srcClient, dstClient, closeBoth, err := ConnectBoth(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeBoth()
	if cfg.Sync.ShardCollections { // before any collection is created; idempotent on resume
		if err := sharding.Sync(ctx, srcClient, dstClient, cfg.Namespaces(), log); err != nil {
			return err
		}
	}

	if st.Stage() == store.StageNone {
		if err := pinT0(ctx, cfg, st, log); err != nil {
			return err
		}
	} else {
		log.WithField("t0", oplog.FormatTS(st.T0())).Info("initial copy (already-copied collections and ranges are skipped)")
	}

	rec.SetStage(store.StageCopying)
	shown := copier.NewProgress(os.Stdout, term.IsTerminal(int(os.Stdout.Fd())), log, cfg.Reader.LogInterval.D())
	if bars, ok := shown.(interface{ Above(io.Writer) io.Writer }); ok {
		// Bars on the terminal: log lines for that terminal go above them.
		if e, ok := log.(*logrus.Entry); ok && e.Logger.Out == os.Stderr && term.IsTerminal(int(os.Stderr.Fd())) {
			e.Logger.SetOutput(bars.Above(os.Stderr))
			defer e.Logger.SetOutput(os.Stderr)
		}
	}
	progress := teeProgress{shown, rec}
	cp := &copier.Copier{Src: srcClient, Dst: dstClient, NS: cfg.Namespaces(), Store: st,
		Workers: cfg.Copy.Workers, BatchDocs: cfg.Copy.BatchDocs, SplitDocs: cfg.Copy.SplitDocs, SplitAlways: cfg.Copy.Split == "always",
		DropExisting: cfg.Sync.DropExisting, Claimed: claimed, Only: only, WriteConcern: mongoconn.DestOptions(cfg.DstMongo()).WriteConcern, Progress: progress, Log: log}
	err = cp.Run(ctx)
	progress.Wait()
	if err != nil {
		return fmt.Errorf("initial copy: %w", err)
	}
	return nil
}

// recordCopyEnd records the end of a finished copy of src in st (see
// copyEnd) and moves st on to applying.
func recordCopyEnd(ctx context.Context, src *mongo.Client, st *store.Store, end *copier.EndWitness, rec *status.Recorder, log logrus.FieldLogger, start time.Time) error {
	copyEnd, via, err := copyEnd(ctx, src, st.T0(), end)
	if err != nil {
		return fmt.Errorf("record the copy's end: %w", err)
	}
	if err := st.SetCopyEnd(copyEnd); err != nil {
		return err
	}
	// Namespaces added to sync.dbs while the copy ran were copied with it.
	if b, ok, err := st.Binding(); err != nil {
		return err
	} else if ok && b.AddingFrom != "" {
		if err := st.Addition().End(b); err != nil {
			return err
		}
	}
	if err := st.SetStage(store.StageApplied); err != nil {
		return err
	}
	rec.SetStage(store.StageApplied)
	log.WithFields(logrus.Fields{"copy_end": oplog.FormatTS(copyEnd), "via": via, "took": time.Since(start).Truncate(time.Millisecond).String()}).
		Info("initial copy done: the destination is consistent once the applier passes copy_end")
	return nil
}

// endWait bounds the wait for the reader's report of a query begun after
// the copy ended: it comes within a re-open and one empty answer (about
// 1 s on MongoDB, a scan of the oplog on the test server) unless the source
// never pauses; then the copy reads the oplog's newest entry.
const endWait = 30 * time.Second

// copyEnd is the copy's end, taken once its last source read returned
// (each way gives a position at or after every entry the copy may have
// seen): the primary's hello lastWrite.majorityOpTime where the server
// gives it (one round trip); else the reader's report of a cursor opened
// after now (copier.EndWitness), when a reader runs in this process; else
// the oplog's newest entry. Never before T0.
func copyEnd(ctx context.Context, src *mongo.Client, t0 bson.Timestamp, w *copier.EndWitness) (bson.Timestamp, string, error) {
	ended := time.Now()
	ts, via, ok, err := copier.HelloMajority(ctx, src)
	if err != nil {
		return ts, "", err
	}
	if !ok && w != nil {
		if ts, ok, err = w.Through(ctx, ended, endWait); err != nil {
			return ts, "", err
		}
		via = "the reader's oplog cursor opened after the copy's last read"
	}
	if !ok {
		if ts, via, err = copier.NewestVia(ctx, src); err != nil {
			return ts, "", err
		}
	}
	if ts.Before(t0) {
		ts = t0
	}
	return ts, via, nil
}

// teeProgress shows the copy's progress and records it for /status.
type teeProgress struct {
	copier.Progress
	rec *status.Recorder
}

func (t teeProgress) Add(ns string, est int64)  { t.Progress.Add(ns, est); t.rec.CopyAdd(ns, est) }
func (t teeProgress) Inc(ns string, d, b int64) { t.Progress.Inc(ns, d, b); t.rec.CopyInc(ns, d, b) }
func (t teeProgress) Done(ns string)            { t.Progress.Done(ns); t.rec.CopyDone(ns) }
