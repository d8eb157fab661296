package sharding

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/ddl"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Command is one command to run on the destination mongos, in database
// DB ("admin" when empty).
type Command struct {
	Desc string // for logs and errors: "shardCollection app.users"
	DB   string
	Cmd  bson.D
	// ExistsOK: NamespaceExists (48) means done (a create on a restart).
	ExistsOK bool
}

// Plan lists the commands that give the destination the source's shard
// keys: enableSharding once per destination database (MongoDB 6.0+ no
// longer needs it and accepts it), then per selected source collection,
// mapped through ns (rename_db), a create with the source's options and
// shardCollection. A collection the destination already shards on the
// same key needs nothing; on another key it is an error naming both keys.
//
// options holds listCollections' options of the source collections, by
// source namespace. The create comes first because shardCollection on a
// missing collection creates it with default options, and the copy's own
// create then finds it there: validator, default collation, clustering,
// change stream pre- and post-images and expireAfterSeconds would be lost.
// A collection with a default collation is sharded with collation
// {locale: "simple"}, which shardCollection requires of one (the manual's
// shardCollection, collation). A sharded time-series collection
// (system.buckets.* in config.collections) is refused: the copy does not
// sync time-series collections.
func Plan(src, dst []Collection, ns *config.Namespaces, options map[string]bson.Raw) ([]Command, error) {
	have := make(map[string]Collection, len(dst))
	for _, c := range dst {
		have[c.NS] = c
	}
	var cmds []Command
	enabled := map[string]bool{}
	sorted := append([]Collection(nil), src...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].NS < sorted[j].NS })
	for _, c := range sorted {
		db, coll := config.SplitNS(c.NS)
		if ns != nil && !ns.Selected(db, coll) || ns == nil && config.Internal(db, coll) {
			continue
		}
		target := c.NS
		if ns != nil {
			target = ns.MapNS(c.NS)
		}
		if d, ok := have[target]; ok {
			if !sameKey(d.Key, c.Key) || d.Unique != c.Unique {
				return nil, fmt.Errorf("destination %s is sharded on %s (unique %v), the source %s on %s (unique %v)",
					target, keyString(d.Key), d.Unique, c.NS, keyString(c.Key), c.Unique)
			}
			continue
		}
		if strings.HasPrefix(coll, config.BucketsPrefix) {
			return nil, fmt.Errorf("%s is a sharded time-series collection (%s): syncing time-series collections is not supported yet",
				db+"."+strings.TrimPrefix(coll, config.BucketsPrefix), c.NS)
		}
		dstDB, dstColl := config.SplitNS(target)
		if !enabled[dstDB] {
			enabled[dstDB] = true
			cmds = append(cmds, Command{Desc: "enableSharding " + dstDB, Cmd: bson.D{{Key: "enableSharding", Value: dstDB}}})
		}
		opts, known := options[c.NS]
		if known {
			cmds = append(cmds, Create(dstDB, dstColl, opts))
		}
		sc := ShardCollection(target, c.Key, c.Unique)
		if _, collated := opts.Lookup("collation").DocumentOK(); collated {
			sc.Cmd = append(sc.Cmd, SimpleCollation)
		}
		cmds = append(cmds, sc)
	}
	return cmds, nil
}

// Create is the create of db.coll with a source collection's
// listCollections options (less those that describe only how the source
// stores it); NamespaceExists is done.
func Create(db, coll string, options bson.Raw) Command {
	cmd := bson.D{{Key: "create", Value: coll}}
	elems, _ := options.Elements()
	for _, e := range elems {
		if !ddl.SourceStorageOption(e.Key()) {
			cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	return Command{Desc: "create " + db + "." + coll + " with the source's options", DB: db, Cmd: cmd, ExistsOK: true}
}

// ShardCollection is the command sharding ns on key.
func ShardCollection(ns string, key bson.D, unique bool) Command {
	cmd := bson.D{{Key: "shardCollection", Value: ns}, {Key: "key", Value: key}}
	if unique {
		cmd = append(cmd, bson.E{Key: "unique", Value: true})
	}
	return Command{Desc: "shardCollection " + ns, Cmd: cmd}
}

// SimpleCollation is shardCollection's collation for a collection with a
// default collation: the shard key's index must use the simple one.
var SimpleCollation = bson.E{Key: "collation", Value: bson.D{{Key: "locale", Value: "simple"}}}

// sameKey compares key patterns field by field, in order; 1 and 1.0 (and
// -1) are the same direction.
func sameKey(a, b bson.D) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || keyKind(a[i].Value) != keyKind(b[i].Value) {
			return false
		}
	}
	return true
}

func keyKind(v any) string {
	switch n := v.(type) {
	case string:
		return n
	case int32:
		return fmt.Sprint(sign(float64(n)))
	case int64:
		return fmt.Sprint(sign(float64(n)))
	case float64:
		return fmt.Sprint(sign(n))
	}
	return fmt.Sprint(v)
}

func sign(f float64) int {
	if f < 0 {
		return -1
	}
	return 1
}

func keyString(k bson.D) string {
	raw, err := bson.MarshalExtJSON(k, false, false)
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(raw)
}

// codeNamespaceExists is MongoDB's NamespaceExists.
const codeNamespaceExists = 48

// sourceOptions reads listCollections' options of each sharded source
// collection, by namespace; a collection listCollections no longer lists
// (dropped since) has none.
func sourceOptions(ctx context.Context, src *mongo.Client, colls []Collection) (map[string]bson.Raw, error) {
	byDB := map[string][]string{}
	for _, c := range colls {
		db, coll := config.SplitNS(c.NS)
		byDB[db] = append(byDB[db], coll)
	}
	out := map[string]bson.Raw{}
	for db, names := range byDB {
		specs, err := src.Database(db).ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$in", Value: names}}}})
		if err != nil {
			return nil, fmt.Errorf("list collections of %s: %w", db, err)
		}
		for _, s := range specs {
			out[db+"."+s.Name] = s.Options
		}
	}
	return out, nil
}

// Option is the configuration key that turns Sync on; errors name it.
const Option = "sync.shard_collections"

// Sync gives the destination the source's shard keys (Plan) and runs the
// commands. Both must be mongos; a destination that is not is an error
// naming the option.
func Sync(ctx context.Context, src, dst *mongo.Client, ns *config.Namespaces, log logrus.FieldLogger) error {
	for _, side := range []struct {
		name string
		c    *mongo.Client
	}{{"destination", dst}, {"source", src}} {
		ok, err := WhetherMongos(ctx, side.c, log)
		if err != nil {
			return fmt.Errorf("%s = true: %s: %w", Option, side.name, err)
		}
		if !ok {
			return fmt.Errorf("%s = true needs a mongos as the %s, and it is not one (hello has no msg: \"isdbgrid\"): %w", Option, side.name, ErrNotMongos)
		}
	}
	srcColls, err := Collections(ctx, src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dstColls, err := Collections(ctx, dst)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	opts, err := sourceOptions(ctx, src, srcColls)
	if err != nil {
		return fmt.Errorf("%s: source: %w", Option, err)
	}
	cmds, err := Plan(srcColls, dstColls, ns, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", Option, err)
	}
	for _, c := range cmds {
		db := c.DB
		if db == "" {
			db = "admin"
		}
		err := dst.Database(db).RunCommand(ctx, c.Cmd).Err()
		var se mongo.ServerError
		if err != nil && c.ExistsOK && errors.As(err, &se) && se.HasErrorCode(codeNamespaceExists) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("%s: %s on the destination: %w", Option, c.Desc, err)
		}
		log.WithField("command", c.Desc).Info("destination sharding set up")
	}
	return nil
}
