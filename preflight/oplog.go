package preflight

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
)

// OplogRate is what the oplog says of the write load.
type OplogRate struct {
	Known          bool
	EntriesPerSec  float64
	BytesPerSec    float64
	Window         time.Duration // the oplog's span, oldest to newest entry
	Over           time.Duration // the span the rate was measured over
	BytesEstimated bool          // bytes from a sample, not $bsonSize
}

type oplogEntry struct {
	TS   bson.Timestamp `bson:"ts"`
	Wall time.Time      `bson:"wall"`
}

func (e oplogEntry) time() time.Time {
	if !e.Wall.IsZero() {
		return e.Wall
	}
	return time.Unix(int64(e.TS.T), 0)
}

func (e oplogEntry) String() string {
	return fmt.Sprintf("ts %d,%d (%s)", e.TS.T, e.TS.I, e.time().UTC().Format(time.RFC3339))
}

// oplogChecks reports the oplog's window, its write rate over the last
// rateOver, and whether majority reads work on it.
func oplogChecks(ctx context.Context, r *Report, side string, c *mongo.Client, rateOver time.Duration) OplogRate {
	oplog := c.Database("local").Collection("oplog.rs")
	names, err := c.Database("local").ListCollectionNames(ctx, bson.D{{Key: "name", Value: "oplog.rs"}})
	if err != nil {
		r.Results = append(r.Results, unknown(side+".oplog", "listCollections on local", err, "grant read on database local"))
		return OplogRate{}
	}
	if len(names) == 0 {
		r.add(side+".oplog", Fail, "no local.oplog.rs: the server is not a replica set member, so there is no oplog to follow",
			"convert it to a (single-member) replica set: restart mongod with --replSet NAME and run rs.initiate()")
		return OplogRate{}
	}
	var oldest, newest oplogEntry
	proj := options.FindOne().SetProjection(bson.D{{Key: "ts", Value: 1}, {Key: "wall", Value: 1}})
	err = oplog.FindOne(ctx, bson.D{}, proj.SetSort(bson.D{{Key: "$natural", Value: 1}})).Decode(&oldest)
	if err == nil {
		proj = options.FindOne().SetProjection(bson.D{{Key: "ts", Value: 1}, {Key: "wall", Value: 1}})
		err = oplog.FindOne(ctx, bson.D{}, proj.SetSort(bson.D{{Key: "$natural", Value: -1}})).Decode(&newest)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		r.add(side+".oplog", Fail, "local.oplog.rs is empty", "initiate the replica set (rs.initiate())")
		return OplogRate{}
	}
	if err != nil {
		r.Results = append(r.Results, unknown(side+".oplog", "read local.oplog.rs", err, "grant find on local.oplog.rs (read on database local)"))
		return OplogRate{}
	}
	rate := OplogRate{Window: newest.time().Sub(oldest.time())}
	r.ok(side+".oplog.window", "oldest entry %s, newest %s: %s of history", oldest, newest, rate.Window.Round(time.Second))

	majorityCheck(ctx, r, side, c)

	// The rate: entries and bytes between the newest entry and rateOver
	// before it (or the oldest entry, if younger).
	from := newest.time().Add(-rateOver)
	if from.Before(oldest.time()) {
		from = oldest.time()
	}
	rate.Over = newest.time().Sub(from)
	if rate.Over < time.Second {
		rate.Over = time.Second
	}
	filter := bson.D{{Key: "ts", Value: bson.D{{Key: "$gte", Value: bson.Timestamp{T: uint32(from.Unix())}}}}}
	n, bytes, estimated, err := countRange(ctx, oplog, filter)
	if err != nil {
		r.Results = append(r.Results, unknown(side+".oplog.rate", "count recent oplog entries", err, ""))
		return rate
	}
	rate.Known, rate.BytesEstimated = true, estimated
	secs := rate.Over.Seconds()
	rate.EntriesPerSec, rate.BytesPerSec = float64(n)/secs, float64(bytes)/secs
	how := "sizes by $bsonSize"
	if estimated {
		how = "sizes from a sample of the entries ($bsonSize not available)"
	}
	r.ok(side+".oplog.rate", "%.1f entries/s, %s/s over the last %s of the oplog (%d entries; %s)",
		rate.EntriesPerSec, human(rate.BytesPerSec), rate.Over.Round(time.Second), n, how)
	return rate
}

// sampleSize is how many entries the byte rate is sampled from where
// $bsonSize is missing.
const sampleSize = 1000

// countRange counts the entries filter selects and their bytes: one
// $group with $bsonSize (4.4+), else a count and the mean size of up to
// sampleSize entries.
func countRange(ctx context.Context, oplog *mongo.Collection, filter bson.D) (n, bytes int64, estimated bool, err error) {
	pipe := bson.A{bson.D{{Key: "$match", Value: filter}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
			{Key: "b", Value: bson.D{{Key: "$sum", Value: bson.D{{Key: "$bsonSize", Value: "$$ROOT"}}}}}}}}}
	cur, aerr := oplog.Aggregate(ctx, pipe)
	if aerr == nil {
		defer cur.Close(context.Background())
		if cur.Next(ctx) {
			n, _ = cur.Current.Lookup("n").AsInt64OK()
			bytes, _ = cur.Current.Lookup("b").AsInt64OK()
		}
		if aerr = cur.Err(); aerr == nil {
			return n, bytes, false, nil
		}
	}
	if !notSupported(aerr) {
		return 0, 0, false, aerr
	}
	n, err = oplog.CountDocuments(ctx, filter)
	if err != nil || n == 0 {
		return n, 0, true, err
	}
	sc, err := oplog.Find(ctx, filter, options.Find().SetLimit(sampleSize))
	if err != nil {
		return n, 0, true, err
	}
	defer sc.Close(context.Background())
	var sum, k int64
	for sc.Next(ctx) {
		sum += int64(len(sc.Current))
		k++
	}
	if err := sc.Err(); err != nil {
		return n, 0, true, err
	}
	if k > 0 {
		bytes = sum * n / k
	}
	return n, bytes, true, nil
}

// majorityCheck reads the oplog at read concern majority: a 4.4 replica
// set started with enableMajorityReadConcern: false answers 148
// (ReadConcernMajorityNotEnabled), and mongo-sync reads nothing else.
func majorityCheck(ctx context.Context, r *Report, side string, c *mongo.Client) {
	oplog := c.Database("local").Collection("oplog.rs", options.Collection().SetReadConcern(readconcern.Majority()))
	err := oplog.FindOne(ctx, bson.D{}, options.FindOne().SetProjection(bson.D{{Key: "ts", Value: 1}})).Err()
	r.Results = append(r.Results, majorityResult(side+".majority", err))
}

func majorityResult(check string, err error) Result {
	switch {
	case err == nil || errors.Is(err, mongo.ErrNoDocuments):
		return Result{Check: check, Status: OK, Detail: "read concern majority is available (a majority read of the oplog answered)"}
	case mongoerr.Permanent(err):
		return Result{Check: check, Status: Fail, Detail: mongoerr.Explain(err).Error(),
			Do: "set replication.enableMajorityReadConcern: true on every member (or upgrade to 5.0+) before syncing"}
	}
	return unknown(check, "a majority read of the oplog", err, "")
}

// human prints a byte count.
func human(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
