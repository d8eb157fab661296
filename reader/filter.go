package reader

import (
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Verdict says what the reader does with an oplog entry.
type Verdict int

const (
	Spool Verdict = iota // append to the spool
	Skip                 // not for this sync; it still moves the position (see marker)
)

// Filter decides, entry by entry, what the reader spools. Command entries and
// applyOps are kept whole: the applier decides about their inner parts.
type Filter struct {
	NS *config.Namespaces
	// ReplicaSet says the source is a replica set of its own, no shard of
	// a sharded cluster (config.Config.Shard is empty): its writes logged
	// with fromMigrate are its own and spooled like any other (see below).
	// Unset, they are a chunk migration's and left out.
	ReplicaSet bool
}

// FilterFor is the filter of cfg's source: its selection, and, on one
// shard of a sharded source (config.Config.Shard), a migration's writes
// left out.
func FilterFor(cfg *config.Config) Filter {
	return Filter{NS: cfg.Namespaces(), ReplicaSet: cfg.Shard() == ""}
}

// fromMigrate marks more than a chunk migration's copies and deletes
// (mongodb/mongo, read for this):
//
//   - cloneCollectionAsCapped inserts every document it copies with
//     fromMigrate: true, one plain insert entry each (no applyOps), into
//     the capped collection it created with an ordinary create entry
//     (src/mongo/db/catalog/capped_utils.cpp: 3.4 to 4.0 pass
//     writesAreReplicated() as insertDocument's fromMigrate, 4.2 and 6.0
//     pass true, 7.0 and 8.0 collection_internal::insertDocument(...,
//     true /*fromMigrate*/)); convertToCapped copies through it into
//     tmp<5 chars>.convertToCapped.<name>;
//   - a rename across databases in 4.2 copies into
//     tmp<5 chars>.renameCollection with fromMigrate: true
//     (rename_collection.cpp renameBetweenDBs, insertDocument(opCtx, stmt,
//     opDebug, true)); 6.0 and later pass false.
//
// What else writes fromMigrate (chunk migrations and their range deletions,
// movePrimary's and resharding's clones) runs only on a shard. So on a
// replica set of its own every fromMigrate write is the source's own and
// the selection decides about it as about any other write, while a
// shard's reader keeps leaving them out, convertToCapped's copies
// (config.CappedCopy) excepted, which its server-side query picks by name:
// a shard's migration traffic is never read. cloneCollectionAsCapped run
// on a shard stays unsynced (README).
//
// The rule goes by the source, not by the target being capped (a capped
// collection cannot be sharded, so no chunk migration writes into one):
// movePrimary clones a database's unsharded collections, capped ones
// included, with fromMigrate, and an insert entry does not say its
// collection is capped, so a shard would have to read its whole migration
// traffic to decide.

// Judge classifies one raw oplog entry.
func (f Filter) Judge(raw bson.Raw) Verdict {
	op, _ := raw.Lookup("op").StringValueOK()
	if op == "n" {
		// Kept: the no-op that says a collection was sharded (5.0+), for
		// the applier's sync.shard_collections.
		if oplog.ShardCollectionNoop(raw) {
			ns, _ := raw.Lookup("ns").StringValueOK()
			if db, coll := config.SplitNS(ns); f.NS == nil && !config.Internal(db, coll) || f.NS != nil && f.NS.Selected(db, coll) {
				return Spool
			}
		}
		return Skip
	}
	ns, _ := raw.Lookup("ns").StringValueOK()
	db, coll := config.SplitNS(ns)
	if f.ReplicaSet && ns == oplog.ShardIdentityNS {
		// The replica set becoming a shard: from then on its fromMigrate
		// writes are chunk migrations'; the applier stops there.
		o, _ := raw.Lookup("o").DocumentOK()
		o2, _ := raw.Lookup("o2").DocumentOK()
		if oplog.ShardIdentityWrite(op, ns, o, o2) {
			return Spool
		}
		return Skip
	}
	if fm, ok := raw.Lookup("fromMigrate").BooleanOK(); ok && fm && !f.ReplicaSet && (op != "c" || ns == "admin.$cmd") && !config.CappedCopy(coll) {
		// A chunk migration's copies and deletes. Its collection DDL
		// (op c: a sharded drop, rename or create on a shard that is not
		// the collection's primary) is spooled: the applier follows it in
		// the shard's catalog without applying it (applier/translate/migrated.go).
		// convertToCapped's copies are spooled as any write: they are the
		// collection's documents (config.CappedCopy).
		return Skip
	}
	if op == "c" {
		if ns == "admin.$cmd" {
			// Transactions and applyOps: the applier filters their inner ops.
			o, _ := raw.Lookup("o").DocumentOK()
			if _, err := o.LookupErr("applyOps"); err == nil {
				return Spool
			}
			if _, err := o.LookupErr("commitTransaction"); err == nil {
				return Spool
			}
			if _, err := o.LookupErr("abortTransaction"); err == nil {
				return Spool
			}
			return Skip
		}
		if coll == "$cmd" {
			if f.NS == nil || f.NS.DBSelected(db) {
				return Spool
			}
			return Skip
		}
	}
	if f.NS == nil {
		if config.Internal(db, coll) {
			return Skip
		}
		return Spool
	}
	// <=3.4 index builds are inserts into db.system.indexes.
	if coll == "system.indexes" && f.NS.DBSelected(db) {
		return Spool
	}
	// Writes to db.system.views are view DDL: the applier selects each
	// view by its own name (applier/translate/views.go). A time-series collection's
	// buckets follow the name the user selected.
	if coll == "system.views" && f.NS.DBSelected(db) {
		return Spool
	}
	if name, ok := strings.CutPrefix(coll, config.BucketsPrefix); ok && f.NS.Selected(db, name) {
		return Spool
	}
	if f.NS.Selected(db, coll) {
		return Spool
	}
	return Skip
}

// serverFilter narrows the oplog query to the selected databases (plus
// admin.$cmd for transactions and no-ops for progress) where it can, and,
// on a shard, leaves out a chunk migration's writes (fromMigrate, but its
// DDL and convertToCapped's copies).
func (f Filter) serverFilter() bson.D {
	var and bson.A
	if !f.ReplicaSet {
		and = append(and, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "fromMigrate", Value: bson.D{{Key: "$ne", Value: true}}}},
			bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: bson.D{{Key: "$ne", Value: "admin.$cmd"}}}},
			bson.D{{Key: "ns", Value: bson.Regex{Pattern: cappedCopyNS}}},
		}}})
	}
	if f.NS != nil {
		if dbs := f.NS.DBs(); dbs != nil {
			quoted := make([]string, len(dbs))
			for i, d := range dbs {
				quoted[i] = regexpQuote(d)
			}
			re := "^(" + strings.Join(quoted, "|") + `)\.`
			or := bson.A{
				bson.D{{Key: "ns", Value: bson.Regex{Pattern: re}}},
				bson.D{{Key: "ns", Value: "admin.$cmd"}},
				bson.D{{Key: "op", Value: "n"}},
			}
			if f.ReplicaSet {
				or = append(or, bson.D{{Key: "ns", Value: oplog.ShardIdentityNS}})
			}
			and = append(and, bson.D{{Key: "$or", Value: or}})
		}
	}
	switch len(and) {
	case 0:
		return bson.D{}
	case 1:
		return and[0].(bson.D)
	}
	return bson.D{{Key: "$and", Value: and}}
}

// cappedCopyNS matches the namespaces config.CappedCopy reports.
const cappedCopyNS = `^[^.]*\.tmp([0-9A-Za-z]{5})?\.convertToCapped\.`

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
