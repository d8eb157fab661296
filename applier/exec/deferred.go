package exec

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/applier/update"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DeferredStore keeps the work a replay window leaves to finish (store.Store
// implements it): keys moved aside, unique index builds that met
// duplicates. Without one, the work is kept in memory only.
type DeferredStore interface {
	PutDeferred(store.Deferred) error
	DeleteDeferred(store.Deferred) error
	DeferredWork() ([]store.Deferred, error)
}

// Reasons for deferred work.
const ReasonIndexDeferred = "unique_index_deferred"

// inWindow reports whether op may meet a destination newer than its entry
// (the catch-up after the copy, a replay after a restart): only there are
// unique conflicts resolved by rule. Without Window, everywhere.
func (x *Executor) inWindow(op *Op) bool {
	return x.Window == nil || x.Window(op.Seq, op.TS)
}

func (x *Executor) loadDeferred() error {
	if x.deferredLoaded {
		return nil
	}
	x.deferredLoaded = true
	if x.Deferred == nil {
		return nil
	}
	items, err := x.Deferred.DeferredWork()
	if err != nil {
		return err
	}
	x.deferred = items
	return nil
}

// addDeferred records an item (durably, before the write that needs it).
func (x *Executor) addDeferred(d store.Deferred) error {
	if err := x.loadDeferred(); err != nil {
		return err
	}
	if x.Deferred != nil {
		if err := x.Deferred.PutDeferred(d); err != nil {
			return fmt.Errorf("record deferred work: %w", err)
		}
	}
	key := string(d.Key())
	for i := range x.deferred {
		if string(x.deferred[i].Key()) == key {
			x.deferred[i] = d
			return nil
		}
	}
	x.deferred = append(x.deferred, d)
	return nil
}

// Settle retries the deferred work after a batch: it restores keys whose
// conflict is gone and, once the applier has passed every replay window
// (windowOver), makes unique the indexes built non-unique inside one. It
// returns the items still pending.
func (x *Executor) Settle(ctx context.Context, windowOver bool) ([]store.Deferred, error) {
	if err := x.loadDeferred(); err != nil {
		return nil, err
	}
	kept := x.deferred[:0]
	for _, d := range x.deferred {
		var done bool
		var err error
		switch {
		case d.Kind == "moved":
			done, err = x.settleMoved(ctx, d)
		case d.Kind == "index" && windowOver:
			done, err = x.settleIndex(ctx, &d)
		case d.Kind != "index":
			err = fmt.Errorf("deferred work of unknown kind %q for %s", d.Kind, d.NS)
		}
		if err != nil {
			return nil, err
		}
		if !done {
			kept = append(kept, d)
			continue
		}
		if x.Deferred != nil {
			if err := x.Deferred.DeleteDeferred(d); err != nil {
				return nil, fmt.Errorf("record deferred work: %w", err)
			}
		}
		if x.Log != nil {
			x.Log.WithFields(logrus.Fields{"ns": d.NS, "kind": d.Kind, "index": d.Index, "path": d.Path}).Debug("deferred unique-index work finished")
		}
	}
	x.deferred = kept
	return kept, nil
}

// settleMoved puts a moved-aside key back where the placeholder still is:
// a later entry that set the path, replaced or deleted the document has
// settled it already. A document original only loses its marker field, so
// what later entries changed inside it stays. A marker alone that a later
// entry changed inside (a sub-diff of a key that was no document) cannot
// be restored truthfully: that stops the applier, naming it.
func (x *Executor) settleMoved(ctx context.Context, d store.Deferred) (bool, error) {
	db, coll := splitNS(d.NS)
	c := x.Client.Database(db).Collection(coll)
	marker := d.Path + "." + movedAsideField
	opts := options.UpdateOne().SetBypassDocumentValidation(true)
	var err error
	if d.Embedded {
		_, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: marker, Value: d.ID}},
			bson.D{{Key: "$unset", Value: bson.D{{Key: marker, Value: ""}}}}, opts)
	} else {
		var res *mongo.UpdateResult
		res, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: d.Path, Value: bson.D{{Key: movedAsideField, Value: d.ID}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: d.Path, Value: d.Value}}}}, opts)
		if err == nil && res.MatchedCount == 0 {
			n, cerr := c.CountDocuments(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: marker, Value: d.ID}})
			if cerr != nil {
				return false, cerr
			}
			if n > 0 {
				return false, fmt.Errorf("%s _id %v: a later entry changed inside the key %s moved aside for unique index %s; its value cannot be restored", d.NS, d.ID, d.Path, d.Index)
			}
		}
	}
	if isDupKey(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("restore %s _id %v %s: %w", d.NS, d.ID, d.Path, err)
	}
	return true, nil
}

// moveDeferred follows a rename: work recorded for the collection at from
// is now for the one at to.
func (x *Executor) moveDeferred(from, to string) error {
	if err := x.loadDeferred(); err != nil {
		return err
	}
	for i, d := range x.deferred {
		if d.NS != from {
			continue
		}
		moved := d
		moved.NS = to
		if d.Kind == "index" {
			db, coll := splitNS(to)
			cmd, err := renameIndexCmd(d.Cmd, coll)
			if err != nil {
				return err
			}
			moved.DB, moved.Cmd = db, cmd
		}
		if x.Deferred != nil {
			if err := x.Deferred.PutDeferred(moved); err != nil {
				return fmt.Errorf("record deferred work: %w", err)
			}
			if err := x.Deferred.DeleteDeferred(d); err != nil {
				return fmt.Errorf("record deferred work: %w", err)
			}
		}
		x.deferred[i] = moved
	}
	return nil
}

// renameIndexCmd is a createIndexes command for the collection coll.
func renameIndexCmd(cmd bson.Raw, coll string) (bson.Raw, error) {
	var d bson.D
	if err := bson.Unmarshal(cmd, &d); err != nil {
		return nil, err
	}
	if i := update.Index(d, "createIndexes"); i >= 0 {
		d[i].Value = coll
	}
	return bson.Marshal(d)
}

// settleIndex replaces an index built non-unique inside a replay window by
// the unique one. An index dropped since is done; duplicates still there
// put the non-unique build back and keep the item.
func (x *Executor) settleIndex(ctx context.Context, d *store.Deferred) (bool, error) {
	db, coll := splitNS(d.NS)
	c := x.Client.Database(db).Collection(coll)
	names := strings.Split(d.Index, ",")
	if d.State != "converting" {
		all, err := c.Indexes().ListSpecifications(ctx)
		if err != nil {
			return false, err
		}
		present, unique := 0, 0
		for _, s := range all {
			for _, n := range names {
				if s.Name == n {
					present++
					if s.Unique != nil && *s.Unique {
						unique++
					}
				}
			}
		}
		if present == 0 || unique == len(names) {
			return true, nil // dropped by a later entry, or unique already
		}
		d.State = "converting"
		if err := x.persist(*d); err != nil {
			return false, err
		}
		for _, n := range names {
			if err := c.Indexes().DropOne(ctx, n); err != nil && !isNotFound(err) {
				return false, fmt.Errorf("drop the non-unique build of %s on %s: %w", n, d.NS, err)
			}
		}
	}
	err := x.Client.Database(d.DB).RunCommand(ctx, d.Cmd).Err()
	if err == nil || isCode(err, mongoerr.IndexAlreadyExists) {
		return true, nil
	}
	if !isDupKey(err) {
		return false, fmt.Errorf("build unique index %s on %s: %w", d.Index, d.NS, err)
	}
	nonUnique, err2 := withoutUnique(d.Cmd)
	if err2 != nil {
		return false, err2
	}
	if err2 := x.Client.Database(d.DB).RunCommand(ctx, nonUnique).Err(); err2 != nil && !isCode(err2, mongoerr.IndexAlreadyExists) {
		return false, fmt.Errorf("rebuild %s on %s non-unique: %w", d.Index, d.NS, err2)
	}
	d.State = ""
	return false, x.persist(*d)
}

func (x *Executor) persist(d store.Deferred) error {
	if x.Deferred == nil {
		return nil
	}
	if err := x.Deferred.PutDeferred(d); err != nil {
		return fmt.Errorf("record deferred work: %w", err)
	}
	return nil
}

func isCode(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}

func isNotFound(err error) bool {
	return isCode(err, mongoerr.IndexNotFound) || isCode(err, mongoerr.NamespaceNotFound)
}

// withoutUnique is a createIndexes command with unique removed from every
// index spec.
func withoutUnique(cmd bson.Raw) (bson.Raw, error) {
	var d bson.D
	if err := bson.Unmarshal(cmd, &d); err != nil {
		return nil, err
	}
	if i := update.Index(d, "indexes"); i >= 0 {
		specs, _ := d[i].Value.(bson.A)
		for j, s := range specs {
			if sd, ok := s.(bson.D); ok {
				specs[j] = update.Remove(sd, "unique")
			}
		}
	}
	return bson.Marshal(d)
}

// UnresolvedError names the deferred work left once the applier has passed
// every replay window: conflicts that no later entry resolved.
type UnresolvedError struct{ Items []store.Deferred }

func (e *UnresolvedError) Error() string {
	var parts []string
	for _, d := range e.Items {
		switch d.Kind {
		case "moved":
			parts = append(parts, fmt.Sprintf("%s _id %v: key %s=%v of unique index %s is still held by another document", d.NS, d.ID, d.Path, d.Value, d.Index))
		default:
			parts = append(parts, fmt.Sprintf("%s: unique index %s still meets duplicate keys", d.NS, d.Index))
		}
	}
	return "unique index conflicts that no later entry of the replay window resolved: " + strings.Join(parts, "; ")
}

// deferIndex builds, non-unique, a unique index whose build met duplicates
// inside a replay window (later entries of the window remove them), and
// records the unique build for Settle once the window is over.
func (x *Executor) deferIndex(ctx context.Context, op *Op, build *IndexBuild, cause error) error {
	nonUnique, err := withoutUnique(build.Cmd)
	if err != nil {
		return err
	}
	d := store.Deferred{Kind: "index", NS: op.NS, DB: build.DB, Cmd: build.Cmd, Index: build.Names}
	if err := x.addDeferred(d); err != nil {
		return err
	}
	if err := x.Client.Database(build.DB).RunCommand(ctx, nonUnique).Err(); err != nil && !isCode(err, mongoerr.IndexAlreadyExists) {
		return fmt.Errorf("build %s non-unique: %w", build.Names, err)
	}
	x.noop(op, ReasonIndexDeferred, logrus.Fields{"index": build.Names, "server": cause.Error()})
	return nil
}
