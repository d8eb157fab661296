package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
)

// A running sync's selection grows when the operator adds a database or a
// collection to sync.dbs between two runs. Replaying the oplog alone would
// give the added namespaces only the writes made from now on: the spool
// never held their entries. So the sync (binding.Check with AddOnline)
// records the selection from before (Binding.AddingFrom) and the position
// the addition begins at (store.Addition), and refills the spool from there
// with the new selection. Then applyAdding runs, side by side:
//
//   - the applier of the rest, which holds the added namespaces back (a
//     translate Hold: their entries pass as if unselected), so the live
//     sync of everything else goes on during the copy. An entry that names
//     both sides (a rename between them, a dropDatabase of a database with
//     both) stops it before that entry (translate.JoinError), until the
//     sides are one;
//   - the copy of the added namespaces (its ranges recorded: a restart
//     resumes it), which records its end (store.Addition.CopyEnd);
//   - once the copy has ended, the added namespaces' own applier, over the
//     same spool from the addition's position (its own cursor), holding
//     the rest back, with the copy's end as its replay window's: entries up
//     to it may meet the copied documents' newer state. It never passes
//     the other applier's position; segments from its position on are kept
//     (they count against spool.max_bytes).
//
// When it has caught up, the applier of the rest is asked to stop after its
// batch, the added namespaces' applier applies through the same entry, and
// the addition ends (store.Addition.End: the copy's end moves up to the
// addition's, AddingFrom is cleared); one applier of everything goes on
// from the checkpoint. "destination is consistent" is logged once it passes
// the addition's copy end. Entries between the checkpoint and where the two
// stopped are applied again, inside the replay window.
//
// A stop anywhere resumes: each side from its own position, the copy from
// its ranges. Until the addition ends, the separate applier and copy
// commands refuse to run (refuseUnfinishedAddition).

// applyAdding applies st's spool (runApplier), first carrying out the
// addition to the selection of st's sync when one is under way (above).
func applyAdding(ctx context.Context, cfg *config.Config, st *store.Store, live *liveSpool, rec *status.Recorder, log logrus.FieldLogger) error {
	applierLog := log.WithField("component", "applier")
	b, ok, err := st.Binding()
	if err != nil {
		return err
	}
	if !ok || b.AddingFrom == "" || st.Stage() != store.StageApplied {
		return runApplier(ctx, cfg, ApplyOptions{live: live}, st, rec, applierLog)
	}
	before, err := config.ParseSelection(b.AddingFrom)
	if err != nil {
		return fmt.Errorf("state file %s: %w", cfg.Store.Path, err)
	}
	addition := st.Addition()
	if ok, err := addition.Recorded(); err != nil {
		return err
	} else if !ok {
		// Recorded by a version whose applier waited for the copy: the
		// checkpoint has not moved since the addition began.
		ck, err := st.Checkpoint()
		if err != nil {
			return err
		}
		if err := addition.SetCheckpoint(ck); err != nil {
			return err
		}
	}
	hold := config.NewAddition(cfg.Namespaces(), before)
	rec.SetStage(store.StageCopying) // until the addition has ended
	reappliedThrough, err := runAddition(ctx, cfg, st, hold, before, live, rec, log)
	if err != nil || ctx.Err() != nil {
		return err
	}
	if err := addition.End(b); err != nil {
		return err
	}
	rec.SetStage(store.StageApplied)
	log.WithFields(logrus.Fields{"copy_end": oplog.FormatTS(st.CopyEnd()), "seq": reappliedThrough}).
		Info("the namespaces added to sync.dbs have joined the rest: one applier goes on; the destination is consistent once it passes copy_end")
	if ck, err := st.Checkpoint(); err != nil {
		return err
	} else if !ck.TS.Before(st.CopyEnd()) {
		log.WithFields(logrus.Fields{"ts": oplog.FormatTS(ck.TS), "copy_end": oplog.FormatTS(st.CopyEnd())}).
			Info("destination is consistent: the applier has passed the end of the added namespaces' copy")
	}
	a, done, err := newApplier(ctx, cfg, ApplyOptions{live: live}, st, rec, applierLog)
	if err != nil || a == nil {
		return err
	}
	defer done()
	a.ReappliedThrough = reappliedThrough
	return a.Run(ctx)
}

// runAddition runs the two sides of an addition (above) until they join,
// and returns the last seq either applied; ctx's end stops it with nil.
// Every goroutine it starts has ended when it returns.
func runAddition(ctx context.Context, cfg *config.Config, st *store.Store, hold *config.Addition, before config.Selection,
	live *liveSpool, rec *status.Recorder, log logrus.FieldLogger) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addition := st.Addition()

	// The rest, from the checkpoint.
	rest, doneRest, err := newApplier(ctx, cfg, ApplyOptions{live: live}, st, rec, log.WithField("component", "applier"))
	if err != nil || rest == nil {
		return 0, err
	}
	defer doneRest()
	join := make(chan struct{})
	rest.Translator.Hold = hold
	rest.Exec.Deferred = sideDeferred{st, hold}
	rest.Partial, rest.Join = true, join
	rest.Keep = func() uint64 {
		ck, _ := addition.Checkpoint()
		return ck.Seq + 1
	}
	restDone := make(chan error, 1)
	go func() { restDone <- rest.Run(ctx) }()
	var (
		restEnded bool
		restLast  uint64
		restJoin  *translate.JoinError // the entry the rest stopped before, if any
	)
	// restEnd takes the rest's result: nil when it stopped to join.
	restEnd := func(err error) error {
		restEnded, restLast = true, rest.Position()
		if errors.As(err, &restJoin) {
			log.WithFields(logrus.Fields{"seq": restJoin.Seq, "ts": oplog.FormatTS(restJoin.TS)}).
				Warn(restJoin.What + ": the applier of the rest waits there until the added namespaces have caught up")
			return nil
		}
		if err == nil && ctx.Err() == nil && !closed(join) {
			return errors.New("the applier of the rest ended during the addition") // not expected: it runs until stopped
		}
		return err
	}
	// stopRest stops the rest and waits for it, unless it has ended.
	stopRest := func() {
		cancel()
		if !restEnded {
			restEnd(<-restDone)
		}
	}

	// The copy of the added namespaces, meanwhile.
	if addition.CopyEnd().IsZero() {
		copyDone := make(chan error, 1)
		go func() {
			copyDone <- copyAddedData(ctx, cfg, st, before, rec, log.WithField("component", "copy"), live.end)
		}()
		var copyErr error
		select {
		case copyErr = <-copyDone:
		case err := <-restDone:
			if err = restEnd(err); err != nil {
				cancel()
				<-copyDone
				return 0, err
			}
			copyErr = <-copyDone // the rest waits at a join point, or ctx ended
		}
		if copyErr != nil || ctx.Err() != nil {
			stopRest()
			return 0, copyErr
		}
	}

	// The added namespaces, from the addition's position, up to the rest.
	added, doneAdded, err := newApplier(ctx, cfg, ApplyOptions{live: live}, st, rec, log.WithField("component", "applier-added"))
	if err != nil || added == nil {
		stopRest()
		return 0, err
	}
	defer doneAdded()
	added.Translator.Hold = hold.Inverse()
	added.Exec.Deferred = sideDeferred{st, hold.Inverse()}
	// Its writes and replays count; the positions and lag are the rest's.
	copyEnd := addition.CopyEnd()
	added.Cursor, added.ConsistentAt, added.Partial, added.Wake, added.Rec = addition, copyEnd, true, nil, nil
	var final atomic.Bool
	var bound atomic.Uint64
	if restEnded {
		bound.Store(restLast)
		final.Store(true)
	}
	added.Through = func() (uint64, bool) {
		if final.Load() {
			return bound.Load(), true
		}
		return rest.Position(), false
	}
	addedDone := make(chan error, 1)
	go func() { addedDone <- added.Run(ctx) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-restDone:
			if err = restEnd(err); err != nil || ctx.Err() != nil {
				cancel()
				<-addedDone
				return 0, err
			}
			bound.Store(restLast)
			final.Store(true)
		case err := <-addedDone:
			if err == nil && ctx.Err() == nil && !final.Load() {
				err = errors.New("the applier of the added namespaces ended before the join")
			}
			if err != nil || ctx.Err() != nil {
				stopRest()
				return 0, err
			}
			if err := renamedBeforeItsCopy(restJoin, st, log); err != nil {
				return 0, err
			}
			return max(restLast, added.Position()), nil
		case <-tick.C:
			// Caught up to within a batch: the rest stops after its
			// batch, and the added namespaces' applier applies through it.
			// Not before the rest has passed the copy's end: a rename of
			// an added collection before the copy listed it lies below
			// that, and the rest must meet it (renamedBeforeItsCopy).
			if !restEnded && !closed(join) && added.Position()+uint64(max(cfg.Applier.BatchOps, 1)) >= rest.Position() &&
				!rest.PositionTS().Before(copyEnd) {
				close(join)
			}
		}
	}
}

// renamedBeforeItsCopy refuses the join when the rest stopped before a
// rename from an added collection into one synced before (j) and the
// addition's copy never read that collection (its UUID is not in the
// catalog): renamed before the copy listed it, under a name the copy
// leaves to the applier, its documents from before the addition are on
// neither side of the destination, and applying the rename would put a
// collection holding only its later writes under the synced name. Without
// a UUID (a server that logs none) this cannot be told, and it is logged.
func renamedBeforeItsCopy(j *translate.JoinError, st *store.Store, log logrus.FieldLogger) error {
	if j == nil || !j.FromHeld {
		return nil
	}
	if j.UI == nil {
		log.WithField("seq", j.Seq).Warn(j.What + ": the entry names no collection UUID, so whether the addition's copy read the renamed collection cannot be told; " +
			"if it was renamed before the copy began, compare the rename's target with verify")
		return nil
	}
	known, err := st.Collections()
	if err != nil {
		return err
	}
	if _, ok := known[string(j.UI)]; ok {
		return nil
	}
	return fmt.Errorf("%s (seq %d, ts %s): the added collection was renamed into a synced namespace before the addition's copy read it, "+
		"so its documents from before the addition are not on the destination; nothing from this entry on is applied. "+
		"To go on: remove the rename's target from sync.dbs and run once, drop it on the destination, then add it back (it is then copied)",
		j.What, j.Seq, oplog.FormatTS(j.TS))
}

// closed reports whether c is closed.
func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// copyAddedData copies the namespaces added to the selection (before: the
// one recorded before them), and records the copy's end.
func copyAddedData(ctx context.Context, cfg *config.Config, st *store.Store, before config.Selection, rec *status.Recorder, log logrus.FieldLogger, end *copier.EndWitness) error {
	known, err := st.Collections()
	if err != nil {
		return err
	}
	only := func(ns string, uuid []byte) bool { return toCopy(before, known, ns, uuid) }
	addedCopyHook(ctx)
	start := time.Now()
	log.Warn("copying the namespaces added to sync.dbs; the rest is applied meanwhile, the added namespaces' entries once they are copied (the spool holds them)")
	if err := copyData(ctx, cfg, st, rec, log, nil, only); err != nil {
		return fmt.Errorf("copy of the namespaces added to sync.dbs: %w", err)
	}
	src, _, err := reader.Connect(ctx, cfg.Src)
	if err != nil {
		return err
	}
	defer src.Disconnect(context.Background())
	at, via, err := copyEnd(ctx, src, st.T0(), end)
	if err != nil {
		return fmt.Errorf("record the end of the copy of the added namespaces: %w", err)
	}
	if err := st.Addition().SetCopyEnd(at); err != nil {
		return err
	}
	log.WithFields(logrus.Fields{"copy_end": oplog.FormatTS(at), "via": via, "took": time.Since(start).Truncate(time.Millisecond).String()}).
		Info("the namespaces added to sync.dbs are copied: their entries are applied from where the addition began, until they catch up with the rest")
	return nil
}

// addedCopyHook runs before the copy of added namespaces starts: tests hold
// the copy there to watch the rest being applied meanwhile.
var addedCopyHook = func(context.Context) {}

// sideDeferred is the deferred work of one side of an addition: the items
// of the destination namespaces the side applies (those its Hold does not
// hold back). Both record into the same state file.
type sideDeferred struct {
	st   *store.Store
	hold *config.Addition
}

func (d sideDeferred) PutDeferred(x store.Deferred) error    { return d.st.PutDeferred(x) }
func (d sideDeferred) DeleteDeferred(x store.Deferred) error { return d.st.DeleteDeferred(x) }

func (d sideDeferred) DeferredWork() ([]store.Deferred, error) {
	all, err := d.st.DeferredWork()
	mine := all[:0]
	for _, x := range all {
		if !d.hold.HeldDest(x.NS) {
			mine = append(mine, x)
		}
	}
	return mine, err
}

// refuseUnfinishedAddition stops the separate applier and copy commands
// while a sync's copy of namespaces added to sync.dbs is unfinished: the
// applier would replay them onto a partial copy and call it consistent.
func refuseUnfinishedAddition(st *store.Store, cfg *config.Config) error {
	b, ok, err := st.Binding()
	if err != nil || !ok || b.AddingFrom == "" {
		return err
	}
	return fmt.Errorf("state file %s records namespaces added to sync.dbs whose copy has not finished: run mongo-sync sync until it logs that they are copied, then the separate commands may run", cfg.Store.Path)
}

// toCopy says whether the copy of an addition copies source collection ns
// (uuid: its UUID, nil when the source reports none): it is selected now
// and was not before (the old selection, before), and the catalog (known:
// UUID → destination namespace) does not place it where the old selection
// synced something: a collection renamed into an added name from a synced
// one is the applier's to move there. A collection the catalog places
// elsewhere is copied: at its own new destination, an interrupted copy of
// this addition (the copy records a collection when it prepares it); at a
// destination nothing synced now, a stale record from before a removal.
func toCopy(before config.Selection, known map[string]string, ns string, uuid []byte) bool {
	db, coll := config.SplitNS(ns)
	if before.Selects(db, coll) {
		return false
	}
	at, placed := known[string(uuid)]
	return uuid == nil || !placed || !syncedBefore(before, at)
}

// syncedBefore reports whether destination namespace dst is where the
// selection before synced a source collection to.
func syncedBefore(before config.Selection, dst string) bool {
	dstDB, coll := config.SplitNS(dst)
	if before.All {
		return before.Selects(dstDB, coll)
	}
	for db, d := range before.DBs {
		to := d.Rename
		if to == "" {
			to = db
		}
		if to == dstDB && before.Selects(db, coll) {
			return true
		}
	}
	return false
}
