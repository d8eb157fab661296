package copier

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/internal/hello"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// sourceReads are the options of every source read that decides what the
// copy writes or where the catch-up starts and ends (T0, the documents,
// copy_end): the primary, at read concern majority, whatever read
// preference the URI gives. A secondary may lag behind T0 (the copy would
// miss writes the oplog replay never brings back: they precede T0), and
// read concern local may return writes a rollback later discards.
// listCollections and listIndexes go to the primary anyway (the driver
// sends them there and they take no read concern).
func sourceReads() *options.CollectionOptionsBuilder {
	return options.Collection().SetReadPreference(readpref.Primary()).SetReadConcern(readconcern.Majority())
}

// sourceCollection is a handle on a source collection for sourceReads.
func sourceCollection(client *mongo.Client, db, coll string) *mongo.Collection {
	return client.Database(db).Collection(coll, sourceReads())
}

// Newest is the ts of the source's newest majority-committed oplog entry
// on the primary: the position an initial copy pins as T0 and records as
// its end (copy_end). Zero when the oplog is empty. See NewestVia.
func Newest(ctx context.Context, client *mongo.Client) (bson.Timestamp, error) {
	ts, _, err := NewestVia(ctx, client)
	return ts, err
}

// NewestVia is Newest, and how it was read, for the log.
//
// A replica set member (MongoDB 3.6+) says it in hello:
// lastWrite.majorityOpTime is the optime of its current committed snapshot,
// the very snapshot majority reads on it read from (mongod fills it from
// _currentCommittedSnapshot). Asked of the primary before the copy reads,
// it is at or before what every later majority read there sees, so it is a
// valid T0; asked after the copy's last read, it is at or after anything
// the copy saw, so it is a valid copy_end. One round trip, where the
// oplog's newest entry costs a read of the oplog's end on MongoDB and a
// scan of the whole oplog on the test server (9 s at 300k entries).
//
// Elsewhere (no lastWrite: the test server; a member whose committed
// snapshot is not known yet) it reads the oplog's newest entry at read
// concern majority on the primary.
func NewestVia(ctx context.Context, client *mongo.Client) (bson.Timestamp, string, error) {
	ts, via, ok, err := HelloMajority(ctx, client)
	if err != nil || ok {
		return ts, via, err
	}
	ts, err = newestEntry(ctx, client)
	return ts, "the oplog's newest entry", err
}

// HelloMajority is the primary's lastWrite.majorityOpTime (see NewestVia);
// ok is false when the server does not give it. An error is one of reaching
// the server (no primary, network, ctx), not a server that refused the
// command: the caller's next read would meet it again.
func HelloMajority(ctx context.Context, client *mongo.Client) (ts bson.Timestamp, via string, ok bool, err error) {
	raw, cmd, err := hello.Run(ctx, client, options.RunCmd().SetReadPreference(readpref.Primary()))
	var se mongo.ServerError
	if errors.As(err, &se) {
		return ts, "", false, nil // refused: the next way
	}
	if err != nil {
		return ts, "", false, fmt.Errorf("source %s: %w", cmd, err)
	}
	ts, ok = majorityOpTime(raw)
	return ts, cmd + " lastWrite.majorityOpTime", ok, nil
}

// majorityOpTime reads lastWrite.majorityOpTime from a hello (or isMaster)
// answer of a replica set primary: {ts, t} (protocol version 1), or a bare
// timestamp (protocol version 0, 3.x). A secondary, a mongos, a standalone
// server or a zero optime gives nothing.
func majorityOpTime(hello bson.Raw) (bson.Timestamp, bool) {
	primary, ok := hello.Lookup("isWritablePrimary").BooleanOK()
	if !ok {
		primary, _ = hello.Lookup("ismaster").BooleanOK()
	}
	if set, _ := hello.Lookup("setName").StringValueOK(); !primary || set == "" {
		return bson.Timestamp{}, false
	}
	v := hello.Lookup("lastWrite", "majorityOpTime")
	if d, ok := v.DocumentOK(); ok {
		v = d.Lookup("ts")
	}
	t, i, ok := v.TimestampOK()
	if !ok || t == 0 {
		return bson.Timestamp{}, false
	}
	return bson.Timestamp{T: t, I: i}, true
}

// newestEntry reads the oplog's newest entry: MongoDB reads it from the
// oplog's end, the test server sorts the whole oplog for it.
func newestEntry(ctx context.Context, client *mongo.Client) (bson.Timestamp, error) {
	var doc struct {
		TS bson.Timestamp `bson:"ts"`
	}
	err := sourceCollection(client, "local", "oplog.rs").FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}}).SetProjection(bson.D{{Key: "ts", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return bson.Timestamp{}, nil
	}
	return doc.TS, err
}
