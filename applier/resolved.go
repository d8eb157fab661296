package applier

import (
	"context"
	"errors"

	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/spool"
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
// transaction its applier has read and not yet applied (PendingSince); so
// when the entry before the commit (its prevOpTime) is in the spool at or
// before the checkpoint this run started from, an applier read it and the
// transaction was applied, or aborted, before that checkpoint was recorded.
// Such a commit is passed over. A transaction whose earlier entries the
// spool never held stays an error (translate.UnknownTxnError).

// appliedBefore reports whether err is an UnknownTxnError of a transaction
// applied before the checkpoint start this run began at (see above), and
// logs it.
func (a *Applier) appliedBefore(ctx context.Context, err error, start store.Checkpoint) bool {
	var u *translate.UnknownTxnError
	if !errors.As(err, &u) || u.Prev.IsZero() || start.Seq == 0 || start.TS.Before(u.Prev) {
		return false
	}
	e, ok := a.spooledAt(ctx, u.Prev, start.Seq)
	if !ok || !sameTxn(e.Raw, u) {
		return false
	}
	a.Rec.ReapplyNoop("transaction_applied_before_checkpoint")
	a.Log.WithFields(logrus.Fields{"seq": u.Seq, "ts": oplog.FormatTS(u.TS), "lsid": u.Lsid, "txnNumber": u.TxnNumber,
		"prev_seq": e.Seq, "checkpoint_seq": start.Seq}).
		Info("the end of a transaction whose earlier entries lie before the checkpoint: it was applied before that checkpoint was recorded, nothing to apply")
	return true
}

// spooledAt finds the sealed spool entry logged at ts among seqs up to
// last, by binary search (the spool is in ts order).
func (a *Applier) spooledAt(ctx context.Context, ts bson.Timestamp, last uint64) (spool.Entry, bool) {
	l, err := spool.List(a.SpoolDir)
	if err != nil || len(l.Sealed) == 0 {
		return spool.Entry{}, false
	}
	r, err := spool.OpenReader(a.SpoolDir)
	if err != nil {
		return spool.Entry{}, false
	}
	defer r.Close()
	lo, hi := l.Sealed[0].First, min(last, l.Sealed[len(l.Sealed)-1].Last)
	for lo <= hi {
		mid := lo + (hi-lo)/2
		es, err := r.Read(ctx, mid, 1, 0)
		if err != nil || len(es) == 0 {
			return spool.Entry{}, false
		}
		switch e := es[0]; {
		case e.TS.Equal(ts):
			return e, true
		case e.TS.Before(ts):
			lo = e.Seq + 1
		default:
			if e.Seq == 0 {
				return spool.Entry{}, false
			}
			hi = mid - 1
		}
	}
	return spool.Entry{}, false
}

// sameTxn reports whether raw is an entry of u's transaction.
func sameTxn(raw bson.Raw, u *translate.UnknownTxnError) bool {
	num, _ := raw.Lookup("txnNumber").AsInt64OK()
	return num == u.TxnNumber && raw.Lookup("lsid").String() == u.Lsid
}
