package cutover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/reader"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// setUserWriteBlockMode does not stop everyone. mongod lets a write through
// while the block is on when the operation may bypass it (a user with the
// bypassWriteBlockingMode privilege: the built-in restore role, hence root,
// and __system; internal operations), or when it is on an internal database
// (mongodb/mongo src/mongo/db/s/global_user_write_block_state.cpp,
// checkUserWritesAllowed; src/mongo/db/user_write_block/write_block_bypass.cpp;
// the privilege: src/mongo/db/auth/builtin_roles.yml, and
// role_graph_builtin_roles.cpp before 7.0). An application connected as root
// keeps writing, and what it writes after the switch is lost. So cutover
// does not take the block on trust: it reads the source's oplog after the
// block's position and fails on any user write to a synced namespace.

// critSectionNS is where mongod persists the user-writes block. On a
// replica set, setUserWriteBlockMode {global: true} takes the global lock
// in mode X (ongoing writes finish first) and inserts the critical-section
// document into this collection; the op observer takes the in-memory block
// on that insert. A block that is already held writes nothing. On a shard
// of a cluster the block is taken in two steps, the second an update
// setting blockUserWrites: true. (mongodb/mongo
// src/mongo/db/commands/set_user_write_block_mode_command.cpp;
// src/mongo/db/s/user_writes_recoverable_critical_section_service.cpp,
// acquireRecoverableCriticalSection and
// promoteRecoverableCriticalSectionToBlockUserWrites; the namespace:
// src/mongo/db/namespace_string_reserved.def.h,
// kUserWritesCriticalSectionsNamespace.)
const critSectionNS = "config.user_writes_critical_sections"

// newestOplogTS is the ts of the newest entry in c's oplog, read on the
// primary (zero for an empty oplog).
func newestOplogTS(ctx context.Context, c *mongo.Client) (bson.Timestamp, error) {
	var doc struct {
		TS bson.Timestamp `bson:"ts"`
	}
	err := oplogColl(c).FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}}).SetProjection(bson.D{{Key: "ts", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return bson.Timestamp{}, nil
	}
	return doc.TS, err
}

func oplogColl(c *mongo.Client) *mongo.Collection {
	return c.Database("local").Collection("oplog.rs", options.Collection().SetReadPreference(readpref.Primary()))
}

// blockPosition is the block's position in c's oplog, once the block is on:
// the newest write to the critical-section collection after before (the
// oplog's newest entry read just before the block was asked for), which is
// the entry that took the block. Without one, the block was held already
// when it was asked for (mongod then writes nothing), so every entry after
// before came after the block: before is the position.
func blockPosition(ctx context.Context, c *mongo.Client, before bson.Timestamp) (bson.Timestamp, error) {
	// Forward from before, as the reader reads: a ts range read forward is
	// one the server bounds on the oplog.
	cur, err := oplogColl(c).Find(ctx,
		bson.D{{Key: "ts", Value: bson.D{{Key: "$gt", Value: before}}}, {Key: "ns", Value: critSectionNS}, {Key: "op", Value: bson.D{{Key: "$in", Value: bson.A{"i", "u"}}}}},
		options.Find().SetSort(bson.D{{Key: "$natural", Value: 1}}).SetProjection(bson.D{{Key: "ts", Value: 1}}))
	if err != nil {
		return bson.Timestamp{}, err
	}
	defer cur.Close(ctx)
	pos := before
	for cur.Next(ctx) {
		if t, i, ok := cur.Current.Lookup("ts").TimestampOK(); ok {
			pos = bson.Timestamp{T: t, I: i}
		}
	}
	if err := cur.Err(); err != nil {
		return bson.Timestamp{}, err
	}
	return pos, nil
}

// bypassWrites are the user writes to synced namespaces found in a source's
// oplog after the block's position.
type bypassWrites struct {
	N     int
	NS    []string // sorted, each once
	First bson.Timestamp
}

// userWritesAfter reads c's oplog after the block's position and collects
// the user writes to the namespaces f selects (userWriteNS).
func userWritesAfter(ctx context.Context, c *mongo.Client, f reader.Filter, after bson.Timestamp) (bypassWrites, error) {
	var w bypassWrites
	// Bounded by the newest entry now: a writer that goes on cannot keep
	// the scan from ending.
	upTo, err := newestOplogTS(ctx, c)
	if err != nil {
		return w, err
	}
	if !upTo.After(after) {
		return w, nil
	}
	cur, err := oplogColl(c).Find(ctx,
		bson.D{{Key: "ts", Value: bson.D{{Key: "$gt", Value: after}, {Key: "$lte", Value: upTo}}},
			{Key: "op", Value: bson.D{{Key: "$in", Value: bson.A{"i", "u", "d", "c"}}}}},
		options.Find().SetSort(bson.D{{Key: "$natural", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return w, err
	}
	defer cur.Close(ctx)
	seen := map[string]bool{}
	for cur.Next(ctx) {
		nss := userWriteNS(cur.Current, f)
		if len(nss) == 0 {
			continue
		}
		if w.N == 0 {
			t, i, _ := cur.Current.Lookup("ts").TimestampOK()
			w.First = bson.Timestamp{T: t, I: i}
		}
		w.N += len(nss)
		for _, ns := range nss {
			if !seen[ns] {
				seen[ns] = true
				w.NS = append(w.NS, ns)
			}
		}
	}
	if err := cur.Err(); err != nil {
		return w, err
	}
	slices.Sort(w.NS)
	return w, nil
}

// userWriteNS is the namespace of each user write in one oplog entry to a
// namespace f selects: a CRUD entry (op i, u or d), or each CRUD operation
// inside an applyOps on admin.$cmd (a transaction's entries, and applyOps
// run by hand: mongodb/mongo src/mongo/db/repl/oplog_entry.idl, the applyOps
// command entry; src/mongo/db/op_observer/op_observer_impl.cpp,
// onUnpreparedTransactionCommit / logApplyOps). Not counted: a chunk
// migration's writes (fromMigrate: true on a shard; on a replica set of its
// own they are a user's cloneCollectionAsCapped or convertToCapped, and
// count: f.Judge tells them apart, as the reader does), no-ops, commands,
// and the admin, config and local databases.
func userWriteNS(raw bson.Raw, f reader.Filter) []string {
	op, _ := raw.Lookup("op").StringValueOK()
	ns, _ := raw.Lookup("ns").StringValueOK()
	switch op {
	case "i", "u", "d":
		db, coll := config.SplitNS(ns)
		if config.Internal(db, coll) || f.Judge(raw) != reader.Spool {
			return nil
		}
		return []string{ns}
	case "c":
		if ns != "admin.$cmd" {
			return nil
		}
		inner, ok := raw.Lookup("o", "applyOps").ArrayOK()
		if !ok {
			return nil
		}
		vals, err := inner.Values()
		if err != nil {
			return nil
		}
		var out []string
		for _, v := range vals {
			if d, ok := v.DocumentOK(); ok {
				out = append(out, userWriteNS(d, f)...)
			}
		}
		return out
	}
	return nil
}

// BypassError is user writes to synced namespaces that reached the source
// after cutover blocked them: someone the block does not stop is writing.
type BypassError struct {
	Shard string // "" for a replica set
	Block bson.Timestamp
	bypassWrites
}

func (e *BypassError) Error() string {
	where := "the source"
	if e.Shard != "" {
		where = "shard " + e.Shard
	}
	return fmt.Sprintf("cutover: %d user writes to synced namespaces reached %s after user writes were blocked at %s (first at ts %s; namespaces: %s): "+
		"a user with the bypassWriteBlockingMode privilege (the root, restore or __system role) is still writing, "+
		"and what it writes after the switch would be lost. Find its connection on the source "+
		"(db.currentOp({active: true}) names each operation's client and user), stop that application, then run cutover --block-writes again. "+
		"As any failed cutover does, this one now unblocks the source's user writes",
		e.N, where, oplog.FormatTS(e.Block), oplog.FormatTS(e.First), strings.Join(e.NS, ", "))
}
