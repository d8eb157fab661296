// Package hello asks a server the handshake command that says what it is
// (primary, replica set, mongos): hello, or isMaster on servers that
// predate hello.
package hello

import (
	"context"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Run sends hello to c's admin database, or isMaster where the server
// answers hello with CommandNotFound (59): mongod before 4.4.2, 4.2.10,
// 4.0.21 and 3.6.21 (4.4.0 and 4.4.1 among them) knows only isMaster. It
// returns the reply and the name of the command that gave it. Any other
// error of hello is returned as it is: a server that cannot be reached, or
// that refused for another reason, is not asked a second time.
func Run(ctx context.Context, c *mongo.Client, opts ...options.Lister[options.RunCmdOptions]) (reply bson.Raw, cmd string, err error) {
	admin := c.Database("admin")
	reply, err = admin.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}, opts...).Raw()
	if !mongoerr.Has(err, mongoerr.CommandNotFound) {
		return reply, "hello", err
	}
	reply, err = admin.RunCommand(ctx, bson.D{{Key: "isMaster", Value: 1}}, opts...).Raw()
	return reply, "isMaster", err
}
