package copier

import (
	"context"
	"errors"

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

// Newest is the ts of the source's newest majority-committed oplog entry,
// read on the primary: the position an initial copy pins as T0 and records
// as its end (copy_end). Zero when the oplog is empty.
func Newest(ctx context.Context, client *mongo.Client) (bson.Timestamp, error) {
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
