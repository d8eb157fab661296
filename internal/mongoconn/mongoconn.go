// Package mongoconn opens clients to MongoDB deployments and checks that
// they answer: one connect-and-ping for every command and check that needs
// a live server (a source's oplog is checked by reader.Connect instead).
package mongoconn

import (
	"context"
	"fmt"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Open connects with opts and pings the server with the client's read
// preference. A server that does not answer within ctx is an error, and the
// client is closed again. The error is the driver's, unwrapped: the caller
// names the server.
func Open(ctx context.Context, opts *options.ClientOptions) (*mongo.Client, error) {
	c, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx, nil); err != nil {
		c.Disconnect(context.Background())
		return nil, err
	}
	return c, nil
}

// Plain connects to m and pings it (no oplog needed: a mongos, or a shard
// asked about its routing).
func Plain(ctx context.Context, m config.Mongo) (*mongo.Client, error) {
	c, err := Open(ctx, options.Client().SetServerSelectionTimeout(15*time.Second).ApplyURI(m.ConnString()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Redacted(), err)
	}
	return c, nil
}

// DestOptions are the destination client's options: majority writes unless
// the URI says otherwise.
func DestOptions(m config.Mongo) *options.ClientOptions {
	return options.Client().SetServerSelectionTimeout(15 * time.Second).
		SetAppName("mongo-sync-applier").SetWriteConcern(writeconcern.Majority()).ApplyURI(m.ConnString())
}

// Dest opens a client to the destination (DestOptions).
func Dest(ctx context.Context, m config.Mongo) (*mongo.Client, error) {
	opts := DestOptions(m)
	if _, err := wirecmd.WriteConcern(opts.WriteConcern); err != nil {
		return nil, fmt.Errorf("destination %s: %w", m.Redacted(), err)
	}
	c, err := Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", m.Redacted(), err)
	}
	return c, nil
}
