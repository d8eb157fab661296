package reader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/hello"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
)

// ErrRolledOver means the source's oplog no longer holds the entry the
// reader must resume at: the destination needs a resync.
var ErrRolledOver = errors.New("oplog rolled over: resync needed")

// ErrDiverged means the source's oplog holds a different entry where the
// spool's last entry was: the source rolled back.
var ErrDiverged = errors.New("source diverged (rollback)")

// ErrNoOplog means the source is not a replica set member.
var ErrNoOplog = errors.New("source has no oplog: it must be a replica set member")

// OplogSource tails local.oplog.rs of a replica set member.
type OplogSource struct {
	Client   *mongo.Client
	Redacted string // the URI without password, for messages
	// Start is where a fresh spool starts (ts >= Start); zero means the
	// source's newest entry.
	Start bson.Timestamp
	// StartFrom says where Start came from, for messages ("--start-optime").
	StartFrom string
	Filter    Filter
	// ProbeEvery: while idle, this often check whether the oplog moved on
	// with entries the filter drops only, and hand the newest such entry to
	// the batcher as a position (see probe). Idle means no entry was read
	// for that long: entries read move the position themselves. Zero
	// disables it.
	ProbeEvery time.Duration
	Log        logrus.FieldLogger
	// Idle, if set, hears when a cursor has nothing more (see IdleReporter).
	Idle IdleReporter
	// Standalone: the source is no replica set member (the test server,
	// NoReplicaSet). Its tailable cursors can stall while newer entries
	// exist, so one silent for maxAwait is re-opened; and its oplog's
	// insertion order, which cursors follow, is not ts order (concurrent
	// writers), so a re-open resumes from the last entry read, never from
	// a probe's marker (an entry with a lower ts may become visible after
	// it). Never on MongoDB, whose cursors stay open while the server
	// awaits data and return entries in ts order.
	Standalone bool

	lastProbe time.Time
	lastRead  time.Time // when the newest entry was read
	// newestRead is the newest ts read so far. On the test server the oplog's
	// natural order is not always ts order (concurrent writers), so the last
	// entry read need not be the newest.
	newestRead bson.Timestamp
	// recent is the ts of the entries emitted last, oldest first (at most
	// recentMax), kept on the test server (Standalone) only. A re-open
	// skips those newer than its resume entry: there the cursor returns
	// entries read before the resume entry in insertion order again, ahead
	// of it.
	recent []bson.Timestamp
}

const recentMax = 1024

// Connect opens a client and checks that the source answers and has an oplog.
// It returns the source's identity for the spool.
func Connect(ctx context.Context, m config.Mongo) (*mongo.Client, string, error) {
	redacted := m.Redacted()
	// Defaults first, so that options in the URI win.
	client, err := mongo.Connect(options.Client().SetServerSelectionTimeout(15 * time.Second).
		SetAppName("mongo-sync-reader").ApplyURI(m.ConnString()))
	if err != nil {
		return nil, "", fmt.Errorf("source %s: %w", redacted, err)
	}
	id, err := checkSource(ctx, client)
	if err != nil {
		client.Disconnect(context.Background())
		return nil, "", fmt.Errorf("source %s: %w", redacted, err)
	}
	return client, id, nil
}

func checkSource(ctx context.Context, client *mongo.Client) (string, error) {
	reply, _, err := hello.Run(ctx, client)
	if err != nil {
		return "", err
	}
	if msg, _ := reply.Lookup("msg").StringValueOK(); msg == "isdbgrid" {
		return "", fmt.Errorf("%w (this is a mongos: run sync, which asks it for its shards, or reader --shard NAME for one shard)", ErrNoOplog)
	}
	names, err := client.Database("local").ListCollectionNames(ctx, bson.D{{Key: "name", Value: "oplog.rs"}})
	if err != nil {
		return "", fmt.Errorf("look for local.oplog.rs: %w", err)
	}
	if len(names) == 0 {
		return "", ErrNoOplog
	}
	if set, _ := reply.Lookup("setName").StringValueOK(); set != "" {
		return replicaSetID + set, nil
	}
	// The test server has an oplog but no replica set name.
	if me, _ := reply.Lookup("me").StringValueOK(); me != "" {
		return "host:" + me, nil
	}
	return "oplog", nil
}

// replicaSetID begins the identity checkSource gives a replica set member.
const replicaSetID = "rs:"

// NoReplicaSet reports whether the source Connect identified as id has an
// oplog but no replica set name: the test server, not MongoDB.
func NoReplicaSet(id string) bool { return !strings.HasPrefix(id, replicaSetID) }

func (o *OplogSource) oplog() *mongo.Collection {
	return o.Client.Database("local").Collection("oplog.rs",
		options.Collection().SetReadConcern(readconcern.Majority()))
}

// newest returns the newest entry of the oplog.
func (o *OplogSource) newest(ctx context.Context) (bson.Timestamp, error) {
	return o.edge(ctx, -1)
}

// Oldest is the ts of the source's oldest oplog entry (zero: an empty
// oplog): the earliest position it can still be read from.
func Oldest(ctx context.Context, client *mongo.Client) (bson.Timestamp, error) {
	return (&OplogSource{Client: client}).edge(ctx, 1)
}

// Newest is the ts of the source's newest majority-committed oplog entry:
// the position an initial copy pins as T0, and records as its end.
func Newest(ctx context.Context, client *mongo.Client) (bson.Timestamp, error) {
	return (&OplogSource{Client: client}).newest(ctx)
}

func (o *OplogSource) edge(ctx context.Context, dir int) (bson.Timestamp, error) {
	var doc struct {
		TS bson.Timestamp `bson:"ts"`
	}
	err := o.oplog().FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: dir}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return bson.Timestamp{}, nil
	}
	return doc.TS, err
}

// tail reads the oplog from `from` (inclusive) until ctx ends or the cursor
// dies; resume, when set, is the entry the first one read must equal. It
// returns the last entry it emitted.
func (o *OplogSource) tail(ctx context.Context, from bson.Timestamp, resume bson.Raw, emit func(bson.Raw) error) (bson.Raw, error) {
	filter := bson.D{{Key: "ts", Value: bson.D{{Key: "$gte", Value: from}}}}
	if resume == nil {
		filter = append(filter, o.Filter.serverFilter()...)
	} else {
		// The resume entry itself, whatever it is, then what the filter keeps.
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "ts", Value: from}}, o.Filter.serverFilter()}})
	}
	// The test server closes a tailable cursor whose first batch is short of
	// its batch size, so there the reader polls by re-opening (produce).
	// Asking for a first batch of one would keep it open, but its awaitData
	// resumes by record id, and concurrent writers commit record ids out of
	// order: it skipped entries (seen in the lag benchmark under load).
	opened := time.Now()
	cur, err := o.oplog().Find(ctx, filter, options.Find().
		SetCursorType(options.TailableAwait).SetMaxAwaitTime(maxAwait))
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.Background())
	if resume == nil && !from.IsZero() {
		// After the query: the oplog only loses its oldest entries, so if
		// from is still covered now, the query saw every entry from it on.
		if err := o.checkStart(ctx, from); err != nil {
			return nil, err
		}
	}

	last := resume
	checked := resume == nil
	// again: entries this re-open must not emit: those emitted before it,
	// newer than the resume entry, and the resume entry itself when it
	// comes after newer ones.
	var again map[bson.Timestamp]bool
	var rts bson.Timestamp // the resume entry's
	if resume != nil {
		rts = tsOf(resume)
		again = o.emittedAfter(rts)
	}
	idle := 0
	var emptySince time.Time // the first of the empty answers in a row
	for {
		asked := time.Now()
		if cur.TryNext(ctx) {
			idle, emptySince = 0, time.Time{}
			raw := make(bson.Raw, len(cur.Current))
			copy(raw, cur.Current)
			if !checked {
				first, err := o.checkResume(ctx, raw, resume)
				if err != nil {
					return last, err
				}
				checked = true
				if first {
					continue // the resume entry itself is already spooled
				}
				if again == nil {
					again = map[bson.Timestamp]bool{}
				}
				again[rts] = true // already spooled, still to come
			}
			ts := tsOf(raw)
			if again[ts] {
				delete(again, ts)
				continue // spooled already
			}
			if err := emit(raw); err != nil {
				return last, err
			}
			if o.Standalone {
				o.remember(ts) // elsewhere entries come in ts order
			}
			if !again[rts] {
				// Until the resume entry came, a re-open resumes from it:
				// from this newer entry it would miss entries between the
				// two that follow the resume entry in insertion order.
				last = raw
			}
			o.lastRead = time.Now()
			if o.newestRead.Before(ts) {
				o.newestRead = ts
			}
			if cur.RemainingBatchLength() == 0 {
				// The next entry needs a round trip that may wait for the
				// server: hand over what was read, do not hold it.
				if err := emit(handOver); err != nil {
					return last, err
				}
			}
			continue
		}
		if err := cur.Err(); err != nil {
			return last, err
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if cur.ID() == 0 {
			if !checked {
				return last, o.rolledOver(ctx, resume)
			}
			o.reportIdle(opened, last, from) // it gave all it had: re-opened anyway
			return last, errCursorDead
		}
		// An empty getMore: the server had nothing new.
		if o.reportIdle(opened, last, from) {
			return last, errCursorDead // a report of a later query is wanted
		}
		if err := emit(nil); err != nil { // lets the batcher flush on time
			return last, err
		}
		unread, marker, err := o.probe(ctx, last, from, emit)
		if err != nil {
			return last, err
		}
		if marker != nil && !o.Standalone {
			last = marker // a re-open resumes there, not before what it passed
		}
		if unread {
			// The oplog holds entries past the last one read that this
			// cursor keeps not returning (the test server's tailable
			// cursors can stall so): re-open it from the last entry.
			o.Log.Debug("oplog cursor returns nothing while newer entries exist: re-opening")
			return last, errCursorDead
		}
		if emptySince.IsZero() {
			emptySince = asked
		}
		if o.Standalone && time.Since(emptySince) >= maxAwait {
			// Nothing for maxAwait, on the test server, whose tailable
			// cursors can stall while newer entries exist (under load, the
			// reader alone went 10 s at a time without an entry, the
			// probe's period; not since it re-opens so).
			return last, errCursorDead
		}
		if time.Since(asked) >= maxAwait/2 {
			continue // the server awaited data: ask again at once
		}
		// The server answered at once (it does not await data): back off a
		// little, within what the lag goal allows (idleDelay).
		idle++
		if err := retry.Sleep(ctx, min(time.Duration(idle)*5*time.Millisecond, idleDelay)); err != nil {
			return last, err
		}
	}
}

const (
	// maxAwait is how long the server may hold an empty getMore on a
	// tailable cursor, waiting for new entries.
	maxAwait = time.Second
	// idleDelay caps the reader's own waits while the source is idle: the
	// pause between empty answers from a server that does not await data,
	// and between re-opens of a cursor the server closed. Each costs the
	// source one query, so they are bounded (at most 1/idleDelay per
	// second) yet short enough for a p99 lag of 250 ms end to end.
	idleDelay = 50 * time.Millisecond
	// reopenDelay caps the back-off between re-opens of a cursor that the
	// server keeps closing while there is nothing to read (the test server
	// closes every cursor whose first batch is short): at most 20 queries a
	// second while idle, at most 50 ms added to the lag.
	reopenDelay = 50 * time.Millisecond
)

// handOver, passed to emit, says that the source has nothing more in hand
// and is about to wait on the server: the batcher hands over what it holds.
// It is not BSON (an entry has at least 5 bytes), so no entry is mistaken
// for it.
var handOver = bson.Raw{}

var errCursorDead = errors.New("oplog cursor closed by the server")

// probe lets the position move while the synced namespaces are quiet and the
// server-side filter hides everything else. It reads the newest
// majority-committed entry N and checks, with the same filter, that no entry
// in (last, N] is one the reader would keep; only then it hands N to emit
// (the batcher skips it and may spool a position marker at N). Without that
// check a marker could pass an entry not yet read.
//
// last is the newest entry read; nil when none was read yet, then every
// entry from start on counts.
//
// unread reports that the oplog holds entries the reader would keep past
// last, which the caller's cursor has not returned. marker is N when it was
// handed to emit: the reader resumes from it (the resume query accepts any
// entry at its ts), so a re-open after a long quiet spell in the synced
// namespaces neither scans from the last entry kept nor finds that entry
// gone from the oplog (a false rollover).
func (o *OplogSource) probe(ctx context.Context, last bson.Raw, start bson.Timestamp, emit func(bson.Raw) error) (unread bool, marker bson.Raw, err error) {
	// Not while entries come: they move the position, and a probe costs the
	// source two or three queries the tail waits for (on a server without a
	// ts index, scans of the whole oplog: a lag spike under load).
	if o.ProbeEvery <= 0 || time.Since(o.lastProbe) < o.ProbeEvery || time.Since(o.lastRead) < o.ProbeEvery {
		return false, nil, nil
	}
	o.lastProbe = time.Now()
	lower := bson.E{Key: "$gte", Value: start}
	from := start
	if last != nil {
		from = tsOf(last)
		lower = bson.E{Key: "$gt", Value: from}
	}
	newest, err := o.oplog().FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Raw()
	if err != nil {
		return false, nil, nil // a probe is best effort: the tail retries the source
	}
	n := tsOf(newest)
	// Not behind an entry read (insertion order is not ts order on the
	// test server): a re-open from n would return that entry again.
	if n.Before(from) || (last != nil && n.Equal(from)) || !o.newestRead.Before(n) {
		return false, nil, nil
	}
	filter := append(bson.D{{Key: "ts", Value: bson.D{lower, {Key: "$lte", Value: n}}}}, o.Filter.serverFilter()...)
	cnt, err := o.oplog().CountDocuments(ctx, filter, options.Count().SetLimit(1))
	if err != nil {
		return false, nil, nil
	}
	if cnt == 0 {
		marker = append(bson.Raw(nil), newest...)
		if err := emit(marker); err != nil {
			return false, nil, err
		}
		return false, marker, nil
	}
	if last == nil || !from.Before(o.newestRead) {
		return true, nil, nil
	}
	// An entry read before last may be newer than it (natural order is not
	// ts order on the test server): only entries newer than every one read
	// are surely unread. No marker either way: one may still be missing.
	filter[0] = bson.E{Key: "ts", Value: bson.D{{Key: "$gt", Value: o.newestRead}, {Key: "$lte", Value: n}}}
	cnt, err = o.oplog().CountDocuments(ctx, filter, options.Count().SetLimit(1))
	return err == nil && cnt > 0, nil, nil
}

// remember records ts as emitted (emittedAfter).
func (o *OplogSource) remember(ts bson.Timestamp) {
	if len(o.recent) >= 2*recentMax {
		o.recent = append(o.recent[:0], o.recent[len(o.recent)-recentMax:]...)
	}
	o.recent = append(o.recent, ts)
}

// emittedAfter is the set of the last recentMax entries emitted whose ts is
// after ts; nil when none (always on MongoDB, whose cursors return entries
// in ts order: recent is kept on the test server only). After a process
// restart it starts empty: an entry the spool holds before its last one
// may then be spooled again, a re-application of a later entry, harmless
// (the applier's re-application rules, applier/exec/reapply.go), on the
// test server only.
func (o *OplogSource) emittedAfter(ts bson.Timestamp) map[bson.Timestamp]bool {
	var m map[bson.Timestamp]bool
	for i := max(0, len(o.recent)-recentMax); i < len(o.recent); i++ {
		if ts.Before(o.recent[i]) {
			if m == nil {
				m = map[bson.Timestamp]bool{}
			}
			m[o.recent[i]] = true
		}
	}
	return m
}

// checkResume verifies the resume entry want against got, the first entry
// the resumed cursor returned; first reports that got is want.
//
// On MongoDB the first entry must be the resume entry: anything else is an
// oplog that rolled over or a source that rolled back, never guessed past.
// On the test server (Standalone) the cursor returns entries in insertion
// order, which concurrent writers make differ from ts order,
// so a newer entry may come first. There the resume entry is looked up by
// its ts, after the cursor's query: the oplog only loses its oldest
// entries, so if it holds the entry now, it held it when the query ran, and
// the cursor returns every entry from it on. (The test server trims by
// insertion order, so an entry inserted before the resume entry with a
// newer ts could be trimmed while it stays; such an entry was read by an
// earlier cursor unless it became visible late, and no test trims there.)
func (o *OplogSource) checkResume(ctx context.Context, got, want bson.Raw) (first bool, err error) {
	gts, wts := tsOf(got), tsOf(want)
	if !gts.Equal(wts) && !o.Standalone {
		return false, o.rolledOver(ctx, want)
	}
	if !gts.Equal(wts) {
		found, err := o.oplog().FindOne(ctx, bson.D{{Key: "ts", Value: wts}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, o.rolledOver(ctx, want)
		}
		if err != nil {
			return false, fmt.Errorf("look up the resume entry at ts %d,%d: %w", wts.T, wts.I, err)
		}
		got = found
	}
	gt, _ := got.Lookup("t").AsInt64OK()
	wt, _ := want.Lookup("t").AsInt64OK()
	if gt != wt {
		return false, fmt.Errorf("%w: the spool ends at ts %d,%d term %d, the source has term %d there", ErrDiverged, wts.T, wts.I, wt, gt)
	}
	return gts.Equal(wts), nil
}

// rolledOver explains why the resume entry was not found.
func (o *OplogSource) rolledOver(ctx context.Context, want bson.Raw) error {
	wts := tsOf(want)
	oldest, err := o.edge(ctx, 1)
	if err != nil {
		return err
	}
	if oldest.IsZero() || wts.Before(oldest) {
		return fmt.Errorf("%w: the spool ends at ts %d,%d, the oldest oplog entry is %d,%d", ErrRolledOver, wts.T, wts.I, oldest.T, oldest.I)
	}
	return fmt.Errorf("%w: the spool ends at ts %d,%d, which the source's oplog no longer has although it holds older entries", ErrDiverged, wts.T, wts.I)
}

func tsOf(raw bson.Raw) bson.Timestamp {
	t, i, _ := raw.Lookup("ts").TimestampOK()
	return bson.Timestamp{T: t, I: i}
}

// produce tails the oplog forever, re-opening dead cursors from the last
// entry read with capped backoff.
func (o *OplogSource) produce(ctx context.Context, last *bson.Raw, emit func(bson.Raw) error) error {
	var resume bson.Raw
	var from bson.Timestamp
	switch {
	case last != nil:
		resume, from = *last, tsOf(*last)
	case !o.Start.IsZero():
		from = o.Start
		o.Log.WithFields(logrus.Fields{"ts": oplog.FormatTS(from), "from": o.StartFrom}).Info("starting at the given optime")
	default:
		newest, err := o.newest(ctx)
		if err != nil {
			return mongoerr.Explain(fmt.Errorf("find the newest oplog entry: %w", err))
		}
		from = newest
		if !newest.IsZero() {
			// Start after it: the oplog's state up to here is the starting point.
			from = bson.Timestamp{T: newest.T, I: newest.I + 1}
		}
		o.StartFrom = "the source's newest entry when the reader started"
		o.Log.WithField("ts", oplog.FormatTS(from)).Info("starting at the newest oplog entry")
	}
	backoff := newBackoff()
	for {
		prev := resume
		got, err := o.tail(ctx, from, resume, emit)
		if got != nil {
			resume, from = got, tsOf(got)
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrRolledOver), errors.Is(err, ErrDiverged):
			return err
		case mongoerr.Permanent(err): // majority reads refused: no retry cures it
			return mongoerr.Explain(fmt.Errorf("read the oplog from ts %d,%d: %w", from.T, from.I, err))
		case errors.Is(err, errCursorDead):
			// A cursor that brought new entries re-opens at once; an idle
			// one backs off (each re-open costs the server a query), to
			// reopenDelay.
			if got != nil && (prev == nil || !tsOf(got).Equal(tsOf(prev))) {
				backoff.reset()
			}
			_, marker, err := o.probe(ctx, resume, from, emit)
			if err != nil {
				return err
			}
			if marker != nil && !o.Standalone {
				resume, from = marker, tsOf(marker)
			}
			o.Log.Debug("oplog cursor closed by the server: re-opening")
		case err != nil:
			o.Log.WithError(err).Warn("reading the oplog failed: retrying")
		}
		if err := emit(nil); err != nil { // flush a pending batch on time
			return err
		}
		delay := backoff.next()
		if errors.Is(err, errCursorDead) {
			delay = min(delay, reopenDelay)
		}
		if err := retry.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}

type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) next() time.Duration {
	switch {
	case b.d == 0:
		b.d = 20 * time.Millisecond
	case b.d < 10*time.Second:
		b.d *= 2
	}
	return b.d
}
