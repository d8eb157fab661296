// Package binding tells which deployments a sync's state file and spool
// belong to, and refuses a start that would lose data or write into what it
// reads (DESIGN.md, invariant 9). Identities are the deployments' own: a
// replica set's replicaSetId with its name, a sharded cluster's clusterId,
// and on a destination the id of a marker mongo-sync writes into its
// reserved database; none changes with the host string or the member a URI
// names.
package binding

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/hello"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Deployment is a deployment's identity.
type Deployment struct {
	// ID is "rs:NAME/REPLICASETID" for a replica set, "cluster:CLUSTERID"
	// through a mongos, or a weaker form when the server gives neither.
	ID string
	// Weak, if set, says why ID is weaker than a deployment's own id (for
	// the log, once per start).
	Weak string
}

// Source identifies the deployment client reaches.
//
// A replica set member answers replSetGetConfig with {config: {_id: NAME,
// settings: {replicaSetId: ObjectId}}} (mongodb/mongo
// src/mongo/db/repl/repl_set_config.idl, ReplSetConfigSettings;
// the manual's replSetGetConfig page); the same document is
// local.system.replset, readable by a user who reads local but lacks the
// clusterMonitor action. A mongos holds the cluster's id in config.version
// {_id: 1, clusterId: ObjectId} (src/mongo/s/catalog/type_config_version.h).
func Source(ctx context.Context, client *mongo.Client) (Deployment, error) {
	helloReply, _, err := hello.Run(ctx, client)
	if err != nil {
		return Deployment{}, err
	}
	if msg, _ := helloReply.Lookup("msg").StringValueOK(); msg == "isdbgrid" {
		var v bson.Raw
		err := client.Database("config").Collection("version").FindOne(ctx, bson.D{}).Decode(&v)
		if err == nil {
			if id, ok := v.Lookup("clusterId").ObjectIDOK(); ok {
				return Deployment{ID: "cluster:" + id.Hex()}, nil
			}
		}
		me, _ := helloReply.Lookup("me").StringValueOK()
		return Deployment{ID: "mongos:" + me, Weak: fmt.Sprintf("the mongos gives no cluster id (config.version: %s): "+
			"mongo-sync needs read on the config database to tell clusters apart", errText(err))}, nil
	}
	var reply bson.Raw
	cerr := client.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetGetConfig", Value: 1}}).Decode(&reply)
	if cerr == nil {
		if d, ok := fromReplsetConfig(reply.Lookup("config")); ok {
			return d, nil
		}
	}
	var doc bson.Raw
	ferr := client.Database("local").Collection("system.replset").FindOne(ctx, bson.D{}).Decode(&doc)
	if ferr == nil {
		if d, ok := fromReplsetConfig(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc}); ok {
			return d, nil
		}
	}
	if set, _ := helloReply.Lookup("setName").StringValueOK(); set != "" {
		return Deployment{ID: "rs:" + set, Weak: fmt.Sprintf("replica set %s gives no replicaSetId to this user (replSetGetConfig: %v; local.system.replset: %v): "+
			"two replica sets of that name are not told apart; grant clusterMonitor", set, errText(cerr), errText(ferr))}, nil
	}
	// The test server: an oplog, no replica set. Its host is all there is.
	me, _ := helloReply.Lookup("me").StringValueOK()
	if me == "" {
		me = "unknown"
	}
	return Deployment{ID: "host:" + me, Weak: "the server reports no replica set and no replicaSetId: it is identified by its host"}, nil
}

func errText(err error) string {
	if err == nil {
		return "no replicaSetId"
	}
	return err.Error()
}

func fromReplsetConfig(v bson.RawValue) (Deployment, bool) {
	doc, ok := v.DocumentOK()
	if !ok {
		return Deployment{}, false
	}
	name, _ := doc.Lookup("_id").StringValueOK()
	id, ok := doc.Lookup("settings", "replicaSetId").ObjectIDOK()
	if name == "" || !ok {
		return Deployment{}, false
	}
	return Deployment{ID: "rs:" + name + "/" + id.Hex()}, true
}

// ShardCluster returns the id of the sharded cluster client's server is a
// shard of, as Source gives a mongos of it ("cluster:HEX"), or "" when it
// is no shard, or does not let this user read its shard identity. A shard
// holds it in admin.system.version as {_id: "shardIdentity", shardName,
// clusterId: ObjectId, configsvrConnectionString} (mongodb/mongo
// src/mongo/s/shard_identity.idl, ShardIdentity; written by the config
// server when the shard is added, the same on every member).
//
// known is false when the server would not say (the user may not read
// admin.system.version, or the read failed): err is then why.
func ShardCluster(ctx context.Context, client *mongo.Client) (cluster string, known bool, err error) {
	var doc bson.Raw
	err = client.Database("admin", options.Database().SetReadPreference(readpref.Primary())).Collection("system.version").
		FindOne(ctx, bson.D{{Key: "_id", Value: "shardIdentity"}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	id, ok := doc.Lookup("clusterId").ObjectIDOK()
	if !ok {
		return "", true, nil
	}
	return "cluster:" + id.Hex(), true, nil
}

const markerColl = "deployment"

// Marker returns the id of the destination client reaches: the document
// {_id: "deployment", id} in mongo-sync's reserved database, written on
// first contact. It survives host strings, members and mongos routers; a
// destination restored or replaced without it is another destination.
func Marker(ctx context.Context, client *mongo.Client) (string, error) {
	c := client.Database(config.ReservedDB).Collection(markerColl)
	_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: markerColl}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "id", Value: spool.NewID()}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return "", fmt.Errorf("write mongo-sync's marker %s.%s on the destination (mongo-sync needs readWrite on database %s there): %w",
			config.ReservedDB, markerColl, config.ReservedDB, err)
	}
	return readMarker(ctx, client)
}

// ReadMarker reads the destination's marker id without writing it; ""
// when none was written yet (for `check`, which writes nothing).
func ReadMarker(ctx context.Context, client *mongo.Client) (string, error) {
	return readMarker(ctx, client)
}

// readMarker reads the marker's id; "" when there is none.
func readMarker(ctx context.Context, client *mongo.Client) (string, error) {
	var doc bson.Raw
	// The primary at majority: a secondary may not have the marker just
	// written, and "no marker" would read as "another deployment".
	db := client.Database(config.ReservedDB, options.Database().SetReadPreference(readpref.Primary()).SetReadConcern(readconcern.Majority()))
	err := db.Collection(markerColl).FindOne(ctx, bson.D{{Key: "_id", Value: markerColl}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	id, _ := doc.Lookup("id").StringValueOK()
	return id, nil
}

// SameDeployment tells whether src reaches the deployment whose marker is
// marker (read through src: mongo-sync never writes to a source). known is
// false when src may not read the reserved database; then the replica set
// ids decide, when both are strong.
func SameDeployment(ctx context.Context, src *mongo.Client, marker string, srcID, dstID Deployment) (same, known bool, err error) {
	got, err := readMarker(ctx, src)
	if err == nil {
		return got != "" && got == marker, true, nil
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code == mongoerr.Unauthorized {
		if srcID.Weak == "" && dstID.Weak == "" {
			return srcID.ID == dstID.ID, true, nil
		}
		return false, false, nil
	}
	return false, false, fmt.Errorf("look for the destination's marker through the source: %w", err)
}
