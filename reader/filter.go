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
}

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
	if fm, ok := raw.Lookup("fromMigrate").BooleanOK(); ok && fm && (op != "c" || ns == "admin.$cmd") && !config.CappedCopy(coll) {
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
	if name, ok := strings.CutPrefix(coll, "system.buckets."); ok && f.NS.Selected(db, name) {
		return Spool
	}
	if f.NS.Selected(db, coll) {
		return Spool
	}
	return Skip
}

// serverFilter narrows the oplog query to the selected databases (plus
// admin.$cmd for transactions and no-ops for progress) where it can, and
// leaves out a chunk migration's writes (fromMigrate, but its DDL and
// convertToCapped's copies).
func (f Filter) serverFilter() bson.D {
	migrated := bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: "fromMigrate", Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: bson.D{{Key: "$ne", Value: "admin.$cmd"}}}},
		bson.D{{Key: "ns", Value: bson.Regex{Pattern: cappedCopyNS}}},
	}}
	filter := bson.D{migrated}
	if f.NS == nil {
		return filter
	}
	dbs := f.NS.DBs()
	if dbs == nil {
		return filter
	}
	filter = bson.D{{Key: "$and", Value: bson.A{bson.D{migrated}}}}
	quoted := make([]string, len(dbs))
	for i, d := range dbs {
		quoted[i] = regexpQuote(d)
	}
	re := "^(" + strings.Join(quoted, "|") + `)\.`
	and := filter[0].Value.(bson.A)
	filter[0].Value = append(and, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "ns", Value: bson.Regex{Pattern: re}}},
		bson.D{{Key: "ns", Value: "admin.$cmd"}},
		bson.D{{Key: "op", Value: "n"}},
	}}})
	return filter
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
