package applier

import (
	"errors"

	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A restart reads again the entries after its checkpoint, and among them
// may be the commit of a transaction whose earlier entries lie before it:
// a shard logs a prepared transaction's prepare when it prepares and its
// commitTransaction when the coordinator decides (mongodb/mongo
// src/mongo/db/op_observer/op_observer_impl.cpp, onTransactionPrepare,
// onPreparedTransactionCommit), so prepared transactions interleave: T
// prepares, T2 prepares, T commits, and the checkpoint after T's commit
// stays below T2's prepare. A checkpoint never passes the first entry of a
// transaction its applier has read and not yet applied (PendingSince). So
// when the entry before the commit (its prevOpTime) lies at or after where
// this state file's runs began reading (store.ReadFrom: the copy's spool
// start, the first entry an incremental sync's first run read, or a
// rewind's) and at or before the checkpoint this run started from, a run
// read it, and the transaction was applied, or aborted, before that
// checkpoint was recorded: the commit is passed over. Any other stays an
// error (translate.UnknownTxnError): a spool that starts inside the
// transaction, a replay rewound past its prepare.

// appliedBefore reports whether err is an UnknownTxnError of a transaction
// applied before the checkpoint start this run began at (see above), and
// logs it.
func (a *Applier) appliedBefore(err error, start store.Checkpoint) bool {
	var u *translate.UnknownTxnError
	if !errors.As(err, &u) || u.Prev.IsZero() || start.Seq == 0 || start.TS.Before(u.Prev) {
		return false
	}
	if from := a.Store.ReadFrom(); from.IsZero() || u.Prev.Before(from) {
		return false
	}
	a.Rec.ReapplyNoop("transaction_applied_before_checkpoint")
	a.Log.WithFields(logrus.Fields{"seq": u.Seq, "ts": oplog.FormatTS(u.TS), "lsid": u.Lsid, "txnNumber": u.TxnNumber,
		"prev_ts": oplog.FormatTS(u.Prev), "checkpoint_seq": start.Seq}).
		Info("the end of a transaction whose earlier entries lie before the checkpoint: it was applied before that checkpoint was recorded, nothing to apply")
	return true
}

// recordReadFrom records, at this run's first batch (its first entry at
// ts), where reading began when the state file does not say it yet (an
// incremental sync, a state file of an older version): every entry from
// here on is read by this run or a later one before a checkpoint can pass
// it. A run that starts with nothing applied begins reading afresh: its
// first entry replaces what an earlier start recorded (a spool emptied and
// started later loses what lay between).
func (a *Applier) recordReadFrom(ts bson.Timestamp) error {
	a.readFromKnown = true
	if a.lastSeq == 0 {
		return a.Store.SetReadFrom(ts)
	}
	if !a.Store.ReadFrom().IsZero() {
		return nil
	}
	return a.Store.RaiseReadFrom(ts)
}
