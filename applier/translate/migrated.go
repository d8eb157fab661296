package translate

import (
	"context"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// A sharded source logs a sharded collection's DDL on each shard that
// holds the collection, and from 5.0 the shards that are not the database's
// primary log theirs with fromMigrate (mongodb/mongo, read for this):
//
//   - drop: src/mongo/db/s/sharding_ddl_util.cpp
//     sendDropCollectionParticipantCommandToShards(..., fromMigrate) and
//     create_collection_coordinator.cpp broadcastDropCollection (every
//     shard but the primary, fromMigrate true); the primary drops last,
//     plainly (drop_database_coordinator.cpp: "dropped on the primary shard
//     after it has been dropped on all of the other shards");
//   - rename: rename_collection_participant_service.cpp, markFromMigrate =
//     thisShardId != primaryShardId; a participant without the source
//     drops the target locally, marked the same way;
//   - create on a shard's first chunk of a collection:
//     migration_destination_manager.cpp cloneCollectionIndexesAndOptions
//     (userCreateNS with fromMigrate true, and its indexes likewise);
//   - resharding's recipients rename the temporary collection over the
//     original with markFromMigrate and dropTarget
//     (resharding_data_copy_util.cpp ensureTemporaryReshardingCollectionRenamed;
//     the 5.0 era's plain form: resharding.go).
//
// The oplog entry has the plain entry's shape plus fromMigrate: true
// (op_observer_impl.cpp, setFromMigrateIfTrue).
//
// Such an entry is never applied to the destination: the primary's plain
// entry is (or, for a chunk's create, the primary's own create). But the
// shard's catalog (UUID → namespace) must follow it, or the shard's later
// writes go by a stale map: to a renamed collection's old name, or skipped
// as superseded when a dropped collection's name is reused. The entry
// becomes a barrier that sends nothing and moves the catalog once every
// write before it is acknowledged (and, through gate.isDDL, a barrier
// across shards); a migration's copies and deletes (CRUD with fromMigrate)
// stay skipped, convertToCapped's copies excepted (config.CappedCopy).
// On a replica set of its own (Translator.ReplicaSet) no migration runs:
// its fromMigrate CRUD is its own and applied, and this is never reached
// for it.

// migrated translates an entry marked fromMigrate.
func (t *Translator) migrated(seq uint64, ts bson.Timestamp, op, ns string, o, raw bson.Raw, top bool) ([]exec.Op, error) {
	if op != "c" || o == nil || !top {
		return nil, nil // a migration's copies and deletes
	}
	cat, err := t.catalog()
	if err != nil || cat == nil {
		return nil, err
	}
	el, err := o.IndexErr(0)
	if err != nil {
		return nil, nil
	}
	name := el.Key()
	db, _ := config.SplitNS(ns)
	ui := uuidOf(raw)
	if cat.gone(ui, ts) {
		return nil, nil // dropped after it: a replay (catalog.gone)
	}
	var hooks []func() error
	where := ns
	switch name {
	case "create":
		coll, _ := el.Value().StringValueOK()
		if orig := reshardingOf(coll); orig != nil {
			return t.reshardingMark(seq, ts, db+"."+coll, orig, ui, true, cat), nil
		}
		dst, ok := t.target(db + "." + coll)
		if _, known := cat.known(ui); !ok || ui == nil || known {
			return nil, nil
		}
		// The name is free on the source: whatever the catalog still
		// places there was dropped or renamed.
		if h := cat.holder(dst); h != "" {
			hooks = append(hooks, cat.forget([]byte(h)))
		}
		hooks, where = append(hooks, cat.set(ui, dst)), dst
	case "drop":
		coll, _ := el.Value().StringValueOK()
		if orig := reshardingOf(coll); orig != nil {
			return t.reshardingMark(seq, ts, db+"."+coll, orig, ui, false, cat), nil
		}
		if _, known := cat.known(ui); !known {
			return nil, nil
		}
		hooks = append(hooks, cat.drop(ui, ts))
	case "renameCollection":
		to, _ := o.Lookup("to").StringValueOK()
		from, _ := el.Value().StringValueOK()
		if orig := reshardingTemp(from); orig != nil {
			hooks = append(hooks, t.endResharding(orig, cat))
		}
		if v := o.Lookup("dropTarget"); v.Type == bson.TypeBinary {
			dropUI := oplog.BinaryUUID(bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
			if _, known := cat.known(dropUI); known {
				hooks = append(hooks, cat.forget(dropUI))
			}
		}
		dst, ok := t.target(to)
		_, known := cat.known(ui)
		switch {
		case ok && ui != nil:
			if h := cat.holder(dst); h != "" && h != string(ui) {
				hooks = append(hooks, cat.forget([]byte(h)))
			}
			hooks, where = append(hooks, cat.set(ui, dst)), dst
		case known: // renamed out of the sync
			hooks = append(hooks, cat.forget(ui))
		}
	case "dropDatabase":
		if !t.dbSelected(db) {
			return nil, nil
		}
		hooks = append(hooks, cat.forgetDB(t.mapDB(db), true, ts))
	default:
		// A recipient's index builds and the like: the primary's entries
		// build them on the destination.
		return nil, nil
	}
	if len(hooks) == 0 {
		return nil, nil
	}
	op0 := exec.Op{Seq: seq, TS: ts, NS: where, Desc: name + " (fromMigrate: the shard's catalog only)", Cmd: sendNothing}
	return []exec.Op{after(op0, hooks...)}, nil
}

// sendNothing is the command of a barrier that only moves the catalog.
func sendNothing(context.Context, *mongo.Client) error { return nil }
