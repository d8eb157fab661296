package pipeline

import (
	"context"
	"fmt"
	"time"

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
// records the selection from before (Binding.AddingFrom), and copyAdded
// copies what is selected now and was not then, before the applier goes
// on:
//
//   - the reader of this run spools with the new selection from where the
//     spool ended, so every entry of an added namespace from there on is
//     spooled, and the copy reads later than that: the added namespaces'
//     catch-up window begins at the spool's end, at or before the copy;
//   - the applier waits (the spool holds what comes meanwhile), then
//     replays from its checkpoint with the copy's end as the new
//     consistency point: entries up to it may meet the copied documents'
//     newer state, and the re-application rules apply to them;
//   - a collection of a database that was already selected is not copied
//     again, even if it was created since the first copy (the applier
//     filled it), because only what the old selection did not select is.
//
// Before any of it, binding.Check moved the spool aside to be refilled
// from the state's position with the new selection (the old spool holds
// the added namespaces' transactions and commands but not the writes
// between them), and forgot what an earlier copy recorded of the added
// namespaces (one added back is copied afresh). A stop during the copy
// resumes it (its ranges are recorded); AddingFrom is cleared only once it
// is done, and until then the separate applier and copy commands refuse
// to run (refuseUnfinishedAddition).

// copyAdded copies the namespaces added to the selection of st's sync, if
// any (st at the applying stage), and records the copy's end.
func copyAdded(ctx context.Context, cfg *config.Config, st *store.Store, rec *status.Recorder, log logrus.FieldLogger, end *copier.EndWitness) error {
	b, ok, err := st.Binding()
	if err != nil || !ok || b.AddingFrom == "" || st.Stage() != store.StageApplied {
		return err
	}
	before, err := config.ParseSelection(b.AddingFrom)
	if err != nil {
		return fmt.Errorf("state file %s: %w", cfg.Store.Path, err)
	}
	known, err := st.Collections()
	if err != nil {
		return err
	}
	only := func(ns string, uuid []byte) bool { return toCopy(before, known, ns, uuid) }
	start := time.Now()
	log.Warn("copying the namespaces added to sync.dbs; the applier waits until they are copied (the spool holds what comes meanwhile)")
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
	if prev := st.CopyEnd(); at.Before(prev) {
		at = prev
	}
	if err := st.SetCopyEnd(at); err != nil {
		return err
	}
	b.AddingFrom = ""
	if err := st.SetBinding(b); err != nil {
		return err
	}
	rec.SetStage(store.StageApplied)
	log.WithFields(logrus.Fields{"copy_end": oplog.FormatTS(at), "via": via, "took": time.Since(start).Truncate(time.Millisecond).String()}).
		Info("the namespaces added to sync.dbs are copied: the destination is consistent once the applier passes copy_end")
	return nil
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
