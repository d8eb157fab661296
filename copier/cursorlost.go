package copier

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// cursorLostCodes are the errors of mongod's CursorInvalidatedError
// category (mongodb/mongo src/mongo/base/error_codes.yml) that say the
// source ended the copy's cursor, not the query. CursorNotFound (43): the
// cursor was reaped (idle for cursorTimeoutMillis, 10 minutes by default,
// or its session idle for localLogicalSessionTimeoutMinutes, 30) or killed
// between two getMores; QueryPlanKilled (175): the collection was dropped
// or renamed while the query yielded
// (src/mongo/db/exec/requires_collection_stage.cpp); CursorKilled (237):
// killCursors or killOp met the cursor in use. The category's fourth,
// OperationFailed (96), is left out: servers since 3.6 say 175 for a killed
// plan, and 96 also means errors a new attempt meets again (4.0's sort
// over its memory limit), which would be retried forever.
var cursorLostCodes = []int{43, 175, 237}

// errMoved means the source collection no longer had the range's name when
// its read ended: what was read may belong to another collection.
var errMoved = errors.New("the source collection changed name during the read")

// cursorLost reports an error after which the range is read again from
// its start (the documents already copied come back as duplicates).
func cursorLost(err error) bool {
	if errors.Is(err, errMoved) {
		return true
	}
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, code := range cursorLostCodes {
		if se.HasErrorCode(code) {
			return true
		}
	}
	return false
}

// rangeHook is called with every attempt at a range once its cursor has
// given a first document: tests hold the copy there to drop, rename or
// kill under it. It travels in the context (withRangeHook).
type rangeHook func(ns string, index, attempt int, cursorID int64)

type rangeHookKey struct{}

// withRangeHook returns ctx carrying h for copyRange.
func withRangeHook(ctx context.Context, h rangeHook) context.Context {
	return context.WithValue(ctx, rangeHookKey{}, h)
}

func hookOf(ctx context.Context) rangeHook {
	h, _ := ctx.Value(rangeHookKey{}).(rangeHook)
	return h
}

// source finds the source collection the copy of coll reads now: the one
// with coll's UUID, under whatever name a rename in the same database gave
// it. gone is true when the database holds no collection with that UUID
// (dropped, or renamed to another database, which gives a new UUID): its
// drop is in the oplog after T0, and the replay removes what was copied.
// A source that reports no UUIDs is found by name.
func (c *Copier) source(ctx context.Context, coll *collection) (src *mongo.Collection, gone bool, err error) {
	filter := bson.D{{Key: "name", Value: coll.srcColl}}
	if coll.uuid != nil {
		filter = bson.D{{Key: "info.uuid", Value: bson.Binary{Subtype: bson.TypeBinaryUUID, Data: coll.uuid}}}
	}
	specs, err := c.srcDB(coll).ListCollectionSpecifications(ctx, filter)
	if err != nil {
		return nil, false, fmt.Errorf("look up source collection %s: %w", coll.srcNS, err)
	}
	if len(specs) == 0 {
		return nil, true, nil
	}
	name := specs[0].Name
	if name == coll.srcColl {
		return coll.srcHandle, false, nil
	}
	c.Log.WithFields(logrus.Fields{"ns": coll.srcNS, "now": coll.srcDB + "." + name, "to": coll.dstNS}).
		Info("source collection renamed during its copy: reading it under its new name")
	return sourceCollection(c.Src, coll.srcDB, name), false, nil
}

// srcDB is coll's source database, read on the primary: where a rename or
// a drop is known first.
func (c *Copier) srcDB(coll *collection) *mongo.Database {
	return c.Src.Database(coll.srcDB, options.Database().SetReadPreference(readpref.Primary()))
}

// stillNamed returns errMoved when src's name no longer holds coll's
// collection: a rename (or a drop and a create) after the read began, which
// a server may not report to the cursor (the test server goes on reading).
func (c *Copier) stillNamed(ctx context.Context, coll *collection, src *mongo.Collection) error {
	if coll.uuid == nil {
		return nil
	}
	specs, err := c.srcDB(coll).ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: src.Name()}})
	if err != nil {
		return fmt.Errorf("look up source collection %s.%s: %w", coll.srcDB, src.Name(), err)
	}
	if len(specs) == 1 && specs[0].UUID != nil && string(specs[0].UUID.Data) == string(coll.uuid) {
		return nil
	}
	return fmt.Errorf("%s.%s: %w", coll.srcDB, src.Name(), errMoved)
}
