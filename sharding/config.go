package sharding

import (
	"context"
	"fmt"
	"sort"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Command is one admin command to run on the destination mongos.
type Command struct {
	Desc string // for logs and errors: "shardCollection app.users"
	Cmd  bson.D
}

// Plan lists the commands that give the destination the source's shard
// keys: enableSharding once per destination database (MongoDB 6.0+ no
// longer needs it and accepts it), then shardCollection per selected
// source collection, mapped through ns (rename_db). A collection the
// destination already shards on the same key needs nothing; on another key
// it is an error naming both keys.
func Plan(src, dst []Collection, ns *config.Namespaces) ([]Command, error) {
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
		if dstDB, _ := config.SplitNS(target); !enabled[dstDB] {
			enabled[dstDB] = true
			cmds = append(cmds, Command{Desc: "enableSharding " + dstDB, Cmd: bson.D{{Key: "enableSharding", Value: dstDB}}})
		}
		cmds = append(cmds, ShardCollection(target, c.Key, c.Unique))
	}
	return cmds, nil
}

// ShardCollection is the command sharding ns on key.
func ShardCollection(ns string, key bson.D, unique bool) Command {
	cmd := bson.D{{Key: "shardCollection", Value: ns}, {Key: "key", Value: key}}
	if unique {
		cmd = append(cmd, bson.E{Key: "unique", Value: true})
	}
	return Command{Desc: "shardCollection " + ns, Cmd: cmd}
}

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
		ok, err := IsMongos(ctx, side.c)
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
	cmds, err := Plan(srcColls, dstColls, ns)
	if err != nil {
		return fmt.Errorf("%s: %w", Option, err)
	}
	for _, c := range cmds {
		if err := dst.Database("admin").RunCommand(ctx, c.Cmd).Err(); err != nil {
			return fmt.Errorf("%s: %s on the destination: %w", Option, c.Desc, err)
		}
		log.WithField("command", c.Desc).Info("destination sharding set up")
	}
	return nil
}
