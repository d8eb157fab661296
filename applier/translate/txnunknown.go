package translate

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// UnknownTxnError is an entry that continues or commits a transaction whose
// earlier entries the applier never saw: a partialTxn entry or a last
// applyOps entry whose prevOpTime is not null, a prepare entry ending such a
// chain, or a commitTransaction without its prepare. mongod chains a
// transaction's entries by prevOpTime, null in the first one only
// (mongodb/mongo src/mongo/db/op_observer/op_observer_impl.cpp,
// logApplyOps / onPreparedTransactionCommit; src/mongo/db/transaction/
// transaction_operations.cpp). Applying what is left would apply a part of
// the transaction, skipping it would lose it: the applier stops, unless the
// entry precedes the copy's T0 (Applier.olderThanCopy).
type UnknownTxnError struct {
	Seq       uint64
	TS        bson.Timestamp
	Lsid      string // the session, as Extended JSON
	TxnNumber int64
	What      string         // which entry of the transaction this is
	Prev      bson.Timestamp // prevOpTime: the transaction's entry before this one (zero: not logged)
}

// Error names the transaction; the entry's seq and ts come with the
// exec.EntryError that carries it (Translator.AppendOps).
func (e *UnknownTxnError) Error() string {
	prev := ""
	if !e.Prev.IsZero() {
		prev = fmt.Sprintf(" (its entry before this one is at ts %d,%d)", e.Prev.T, e.Prev.I)
	}
	return fmt.Sprintf("%s of the transaction lsid %s txnNumber %d, whose earlier entries are not in the spool%s: "+
		"the spool starts after the transaction began, and applying the rest would apply a part of it. "+
		"Start over from an optime at or before the transaction's first entry (an initial copy starts its spool there by itself)",
		e.What, e.Lsid, e.TxnNumber, prev)
}

func unknownTxn(seq uint64, ts bson.Timestamp, raw bson.Raw, what string, prev bson.Timestamp) *UnknownTxnError {
	num, _ := raw.Lookup("txnNumber").AsInt64OK()
	return &UnknownTxnError{Seq: seq, TS: ts, Lsid: raw.Lookup("lsid").String(), TxnNumber: num, What: what, Prev: prev}
}

// prevOpTime is an entry's prevOpTime.ts, when it is logged and not the
// null optime {ts: Timestamp(0, 0), t: -1} of a transaction's first entry.
func prevOpTime(raw bson.Raw) (bson.Timestamp, bool) {
	prev, ok := raw.Lookup("prevOpTime").DocumentOK()
	if !ok {
		return bson.Timestamp{}, false
	}
	t, i, ok := prev.Lookup("ts").TimestampOK()
	if !ok || (t == 0 && i == 0) {
		return bson.Timestamp{}, false
	}
	return bson.Timestamp{T: t, I: i}, true
}
