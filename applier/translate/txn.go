package translate

import (
	"fmt"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// txn is a transaction whose commit has not been applied yet.
type txn struct {
	firstSeq uint64
	ops      []bson.Raw // inner ops, in order
	prepared bool
}

// txnKey identifies a transaction by its session and number.
func txnKey(raw bson.Raw) (string, bool) {
	lsid, err := raw.LookupErr("lsid")
	if err != nil {
		return "", false
	}
	num, err := raw.LookupErr("txnNumber")
	if err != nil {
		return "", false
	}
	return lsid.String() + "/" + num.String(), true
}

// applyOps handles transactions (single entry, partialTxn chains, prepared)
// and plain applyOps (no session, or multiOpType:1), which apply at once.
func (t *Translator) applyOps(seq uint64, ts bson.Timestamp, o, raw bson.Raw, top bool) ([]exec.Op, error) {
	arr, ok := o.Lookup("applyOps").ArrayOK()
	if !ok {
		return nil, fmt.Errorf("applyOps is not an array")
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, err
	}
	inner := make([]bson.Raw, 0, len(vals))
	for i, v := range vals {
		d, ok := v.DocumentOK()
		if !ok {
			return nil, fmt.Errorf("applyOps[%d] is not a document", i)
		}
		inner = append(inner, d)
	}
	key, inTxn := txnKey(raw)
	if m, _ := raw.Lookup("multiOpType").AsInt64OK(); m == 1 || !top {
		inTxn = false
	}
	if !inTxn {
		return t.inner(seq, ts, inner)
	}
	partial, _ := o.Lookup("partialTxn").BooleanOK()
	prepare, _ := o.Lookup("prepare").BooleanOK()
	tx := t.txns[key]
	if prev, ok := prevOpTime(raw); tx == nil && ok {
		// Not the transaction's first entry (that one's prevOpTime is
		// null), and no earlier one was seen: a part of it would be lost.
		what := "the commit (last applyOps entry)"
		switch {
		case partial:
			what = "a partialTxn entry"
		case prepare:
			what = "the prepare entry"
		}
		return nil, unknownTxn(seq, ts, raw, what, prev)
	}
	if tx == nil && (partial || prepare) {
		tx = &txn{firstSeq: seq}
		t.txns[key] = tx
	}
	switch {
	case partial:
		tx.ops = keep(tx.ops, inner)
		return nil, nil
	case prepare:
		tx.ops = keep(tx.ops, inner)
		tx.prepared = true
		return nil, nil
	case tx != nil: // the implicit commit of a chain
		// A full-slice expression: a failed commit leaves tx.ops as it was.
		all := append(tx.ops[:len(tx.ops):len(tx.ops)], inner...)
		return t.commit(key, tx, seq, ts, all)
	}
	return t.inner(seq, ts, inner)
}

// commit translates a pending transaction's ops at its commit entry. The
// transaction stays pending until that succeeds, so the checkpoint
// (PendingSince) cannot pass its first entry and a restart replays all of
// it or none of it.
func (t *Translator) commit(key string, tx *txn, seq uint64, ts bson.Timestamp, ops []bson.Raw) ([]exec.Op, error) {
	out, err := t.inner(seq, ts, ops)
	if err != nil {
		return nil, fmt.Errorf("transaction begun at seq %d: %w", tx.firstSeq, err)
	}
	delete(t.txns, key)
	return out, nil
}

func (t *Translator) commitPrepared(seq uint64, ts bson.Timestamp, raw bson.Raw) ([]exec.Op, error) {
	key, ok := txnKey(raw)
	if !ok {
		return nil, fmt.Errorf("commitTransaction without lsid/txnNumber")
	}
	tx := t.txns[key]
	if tx == nil {
		// Its prepare entry was never seen: the transaction began before
		// the spool did. Nothing of it can be applied.
		prev, _ := prevOpTime(raw)
		return nil, unknownTxn(seq, ts, raw, "commitTransaction", prev)
	}
	return t.commit(key, tx, seq, ts, tx.ops)
}

func (t *Translator) abort(raw bson.Raw) {
	if key, ok := txnKey(raw); ok {
		delete(t.txns, key)
	}
}

// keep appends copies of ops to kept, in one allocation: a transaction's
// ops outlive their entry's batch, whose memory the next batch reuses
// (spool.Reader.Release).
func keep(kept, ops []bson.Raw) []bson.Raw {
	n := 0
	for _, op := range ops {
		n += len(op)
	}
	buf := make([]byte, 0, n)
	for _, op := range ops {
		off := len(buf)
		buf = append(buf, op...)
		kept = append(kept, buf[off:len(buf):len(buf)])
	}
	return kept
}

// inner translates applyOps' inner ops at the entry's seq and ts.
func (t *Translator) inner(seq uint64, ts bson.Timestamp, ops []bson.Raw) ([]exec.Op, error) {
	var out []exec.Op
	for i, op := range ops {
		var err error
		if out, err = t.entry(out, seq, ts, op, false); err != nil {
			return nil, fmt.Errorf("applyOps[%d]: %w", i, err)
		}
	}
	return out, nil
}

// PendingSince is the first seq of the oldest transaction not yet applied
// (0 when none): the checkpoint must stay below it.
func (t *Translator) PendingSince() uint64 {
	var min uint64
	for _, tx := range t.txns {
		if min == 0 || tx.firstSeq < min {
			min = tx.firstSeq
		}
	}
	return min
}
