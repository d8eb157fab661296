package pipeline

import (
	"context"
	"fmt"
	"os"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
)

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
	f := logrus.Fields{"t0": oplog.FormatTS(pin.T0), "via": via, "spool_from": oplog.FormatTS(from)}
	if o := pin.Open; o != nil {
		f["open_txn"], f["open_txn_number"], f["open_txn_state"] = o.Lsid.String(), o.TxnNum, o.State
	}
	log.WithFields(f).Info("T0 pinned: the reader spools the oplog from spool_from (at or before T0, where the oldest transaction open at T0 began) while the copy runs")
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

// pinShards starts every shard that records no sync yet: with a start
// optime, past the copy (it is skipped); else at its T0, all of them before
// any reader starts and before the copy. Each T0 is read first (a query of
// each shard, which takes a while), then all are recorded at once, so that
// a sync stopped in between rarely leaves some recorded and others not.
func pinShards(ctx context.Context, stages []*shardStage, incremental bool) error {
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
	return nil
}
