package copier

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Pin is where a fresh initial copy of one replica set begins.
type Pin struct {
	// T0 is the copy's consistency point: the source's newest
	// majority-committed entry, read after the transactions table. The
	// copy reads after it; the catch-up replays the oplog from it.
	T0 bson.Timestamp
	// From is where the spool starts (the reader spools ts >= From), at or
	// before T0: the first entry of the oldest transaction open when T0 was
	// pinned, so that a transaction begun before T0 and committed after it
	// reaches the applier whole; else the newest entry before the
	// transactions table was read (a transaction begun after that read is
	// in the spool whatever the table said).
	From bson.Timestamp
	// Via says how T0 was read, for the log.
	Via string
	// Open is the oldest transaction open at the pin, if any.
	Open *OpenTxn
}

// OpenTxn is a transaction the source's transactions table
// (config.transactions) holds as prepared or inProgress: its first oplog
// entry (startOpTime) is written, its commit is not.
type OpenTxn struct {
	Lsid   bson.Raw // the record's _id: the session (and on 6.0+ an internal transaction's parent's txnNumber and txnUUID)
	TxnNum int64
	State  string
	Start  bson.Timestamp // startOpTime.ts
}

// PinStart pins a fresh copy's T0 and the spool's start, as mongod's
// initial sync does (mongodb/mongo src/mongo/db/repl/initial_syncer.cpp:
// _lastOplogEntryFetcherCallbackForDefaultBeginFetchingOpTime, then
// _scheduleGetBeginFetchingOpTime_inlock's find on config.transactions
// for state prepared or inProgress, oldest startOpTime, then
// _lastOplogEntryFetcherCallbackForBeginApplyingTimestamp):
//
//  1. before, the newest majority-committed entry;
//  2. the transactions open in a majority snapshot at or after before;
//  3. T0, the newest majority-committed entry, at or after that snapshot.
//
// The spool starts at the oldest open transaction's first entry, or at
// before when that is older. A transaction whose first entry precedes the
// spool's start was not open in the snapshot of step 2 (it would be listed)
// and had begun before step 1: it ended in that snapshot, at or before T0,
// so the copy holds its effects. Every other transaction the applier meets
// whole. The copy's consistency point stays T0.
func PinStart(ctx context.Context, client *mongo.Client) (Pin, error) {
	before, _, err := NewestVia(ctx, client)
	if err != nil {
		return Pin{}, err
	}
	open, ok, err := OldestOpenTxn(ctx, client)
	if err != nil {
		return Pin{}, err
	}
	t0, via, err := NewestVia(ctx, client)
	if err != nil {
		return Pin{}, err
	}
	p := Pin{T0: t0, From: t0, Via: via}
	if ok {
		p.Open = &open
	}
	p.From = SpoolFrom(before, t0, p.Open)
	return p, nil
}

// SpoolFrom is the spool's start: the oldest of T0, the newest entry read
// before the transactions table (zero: the oplog was empty) and the oldest
// open transaction's first entry. An empty oplog before (the test server's;
// a replica set always holds its initiation's entry) leaves T0.
func SpoolFrom(before, t0 bson.Timestamp, open *OpenTxn) bson.Timestamp {
	from := t0
	if !before.IsZero() && before.Before(from) {
		from = before
	}
	if open != nil && !open.Start.IsZero() && (from.IsZero() || open.Start.Before(from)) {
		from = open.Start
	}
	return from
}

// OldestOpenTxn reads the source's transactions table at read concern
// majority on the primary and returns the open transaction (prepared or
// inProgress) with the oldest startOpTime. mongod sorts and limits on the
// server; every open record is read here and the oldest chosen in code
// (their number is that of the transactions open at once), so a server
// that sorts optime documents otherwise cannot change the answer.
//
// Records of retryable writes and of 4.0 transactions have no state;
// committed and aborted ones are not open; a record without startOpTime
// gives no start (mongod then keeps its default too).
func OldestOpenTxn(ctx context.Context, client *mongo.Client) (OpenTxn, bool, error) {
	coll := sourceCollection(client, "config", "transactions")
	cur, err := coll.Find(ctx, bson.D{{Key: "state", Value: bson.D{{Key: "$in", Value: bson.A{"prepared", "inProgress"}}}}})
	if err != nil {
		return OpenTxn{}, false, fmt.Errorf("read config.transactions for the transactions open at T0 (the source's user needs find on config.transactions): %w", err)
	}
	defer cur.Close(ctx)
	var docs []bson.Raw
	for cur.Next(ctx) {
		docs = append(docs, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		return OpenTxn{}, false, fmt.Errorf("read config.transactions for the transactions open at T0: %w", err)
	}
	return OldestOpen(docs)
}

// OldestOpen picks, among session transaction records in mongod's shape
// (mongodb/mongo src/mongo/db/session_txn_record.idl on 4.2-5.0,
// src/mongo/db/session/session_txn_record.idl on 6.0+), the open one with
// the oldest startOpTime.
func OldestOpen(docs []bson.Raw) (OpenTxn, bool, error) {
	var best OpenTxn
	found := false
	for _, d := range docs {
		state, _ := d.Lookup("state").StringValueOK()
		if state != "prepared" && state != "inProgress" {
			continue
		}
		start, ok, err := startOpTime(d)
		if err != nil {
			return OpenTxn{}, false, err
		}
		if !ok {
			continue
		}
		if found && !start.Before(best.Start) {
			continue
		}
		lsid, _ := d.Lookup("_id").DocumentOK()
		num, _ := d.Lookup("txnNum").AsInt64OK()
		best, found = OpenTxn{Lsid: lsid, TxnNum: num, State: state, Start: start}, true
	}
	return best, found, nil
}

// startOpTime reads a record's startOpTime: an optime {ts, t} (protocol
// version 1, every version that logs partialTxn or prepare).
func startOpTime(d bson.Raw) (bson.Timestamp, bool, error) {
	v, err := d.LookupErr("startOpTime")
	if err != nil {
		return bson.Timestamp{}, false, nil
	}
	if doc, ok := v.DocumentOK(); ok {
		if t, i, ok := doc.Lookup("ts").TimestampOK(); ok {
			return bson.Timestamp{T: t, I: i}, true, nil
		}
	}
	return bson.Timestamp{}, false, fmt.Errorf("config.transactions record %s: startOpTime is not an optime {ts, t}: %s", d.Lookup("_id"), v)
}
