package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/term"
)

func newCopyCmd() *cobra.Command {
	var (
		c        common
		src, dst mongoFlags
		drop     bool
	)
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Initial copy: pin T0 in the spool, copy the selected collections, record the copy's end",
		Long: `Copy every selected collection (options, indexes, documents) from the
source to the destination. On a fresh state file it first pins T0, the
source's newest oplog entry, in the spool: start "mongo-sync reader" with the
same spool once this command says so, and "mongo-sync applier" once it has
finished. A restart resumes, skipping what was already copied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context(), func(cfg *config.Config) error {
				cfg.Src = src.apply(cfg.Src)
				cfg.SetDstMongo(dst.apply(cfg.DstMongo()))
				cfg.Sync.DropExisting = cfg.Sync.DropExisting || drop
				return nil
			}, "copy", func(ctx context.Context, cfg *config.Config, rec *status.Recorder, log logrus.FieldLogger) error {
				st, err := store.Open(cfg.Store.Path)
				if err != nil {
					return err
				}
				defer st.Close()
				if err := cfg.RequireSource(); err != nil {
					return err
				}
				if err := cfg.RequireDest(); err != nil {
					return err
				}
				if err := bindSides(ctx, cfg, st, true, true, log); err != nil {
					return err
				}
				return runCopy(ctx, cfg, st, rec, log, nil, nil)
			})
		},
	}
	c.register(cmd)
	src.register(cmd, "src")
	dst.register(cmd, "dst")
	cmd.Flags().BoolVar(&drop, "drop", false, "drop destination collections that already hold documents (sync.drop_existing)")
	return cmd
}

// pinT0 records T0, the source's newest majority-committed oplog entry, in
// the store, and the spool's start (T0, or the first entry of the oldest
// transaction open at T0: copier.PinStart) in the spool, where the reader
// starts from it, and moves the store to the copying stage. It must happen
// before the reader starts.
func pinT0(ctx context.Context, cfg *config.Config, st *store.Store, log logrus.FieldLogger) error {
	pin, via, err := readT0(ctx, cfg)
	if err != nil {
		return err
	}
	return recordT0(cfg, st, pin, via, log)
}

// readT0 reads the T0 a fresh copy of cfg's source pins (its newest
// majority-committed entry) and where its spool starts, checking that the
// spool is empty.
func readT0(ctx context.Context, cfg *config.Config) (copier.Pin, string, error) {
	client, _, err := reader.Connect(ctx, cfg.Src)
	if err != nil {
		return copier.Pin{}, "", err
	}
	defer client.Disconnect(context.Background())
	if l, err := spool.List(cfg.Spool.Dir); err == nil && (len(l.Sealed) > 0 || l.Open != nil) {
		return copier.Pin{}, "", fmt.Errorf("spool %s already holds entries: a fresh initial copy needs an empty spool (or a state file that records the copy)", cfg.Spool.Dir)
	}
	pin, err := copier.PinStart(ctx, client)
	if err != nil {
		return copier.Pin{}, "", fmt.Errorf("pin T0: %w", err)
	}
	return pin, pin.Via, nil
}

// recordT0 records pin's T0 in the state file, which moves to the copying
// stage, and its spool start in the spool.
func recordT0(cfg *config.Config, st *store.Store, pin copier.Pin, via string, log logrus.FieldLogger) error {
	from := pin.From
	if from.IsZero() || pin.T0.Before(from) {
		from = pin.T0
	}
	if err := spool.SetStart(cfg.Spool.Dir, from); err != nil {
		return fmt.Errorf("pin T0 in the spool: %w", err)
	}
	if err := st.SetSpoolFrom(from); err != nil {
		return err
	}
	if err := st.SetT0(pin.T0); err != nil {
		return err
	}
	if err := st.SetStage(store.StageCopying); err != nil {
		return err
	}
	f := logrus.Fields{"t0": fmtTS(pin.T0), "via": via, "spool_from": fmtTS(from)}
	if o := pin.Open; o != nil {
		f["open_txn"], f["open_txn_number"], f["open_txn_state"] = o.Lsid.String(), o.TxnNum, o.State
	}
	log.WithFields(f).Info("T0 pinned: the reader spools the oplog from spool_from (at or before T0, where the oldest transaction open at T0 began) while the copy runs")
	return nil
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
	if err := copyData(ctx, cfg, st, rec, log, claimed); err != nil {
		return err
	}
	srcClient, _, err := reader.Connect(ctx, cfg.Src)
	if err != nil {
		return err
	}
	defer srcClient.Disconnect(context.Background())
	return recordCopyEnd(ctx, srcClient, st, end, rec, log, start)
}

// copyData copies the selected collections from cfg.Src, recording its
// progress in st (ranges and collections done; T0 pinned if not yet).
func copyData(ctx context.Context, cfg *config.Config, st *store.Store, rec *status.Recorder, log logrus.FieldLogger, claimed func(string) bool) error {
	srcClient, dstClient, closeBoth, err := connectBoth(ctx, cfg)
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
		log.WithField("t0", fmtTS(st.T0())).Info("initial copy (already-copied collections and ranges are skipped)")
	}

	rec.SetStage("copying")
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
		DropExisting: cfg.Sync.DropExisting, Claimed: claimed, WriteConcern: mongoconn.DestOptions(cfg.DstMongo()).WriteConcern, Progress: progress, Log: log}
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
	if err := st.SetStage(store.StageApplied); err != nil {
		return err
	}
	rec.SetStage("applying")
	log.WithFields(logrus.Fields{"copy_end": fmtTS(copyEnd), "via": via, "took": time.Since(start).Truncate(time.Millisecond).String()}).
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

// idleReporter is what the reader of a sync tells the copy's end witness
// through; nil outside sync.
func (l *liveSpool) idleReporter() reader.IdleReporter {
	if l == nil || l.end == nil {
		return nil
	}
	return l.end
}

// teeProgress shows the copy's progress and records it for /status.
type teeProgress struct {
	copier.Progress
	rec *status.Recorder
}

func (t teeProgress) Add(ns string, est int64)  { t.Progress.Add(ns, est); t.rec.CopyAdd(ns, est) }
func (t teeProgress) Inc(ns string, d, b int64) { t.Progress.Inc(ns, d, b); t.rec.CopyInc(ns, d, b) }
func (t teeProgress) Done(ns string)            { t.Progress.Done(ns); t.rec.CopyDone(ns) }
