package preflight

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/sharding"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// routerChecks reads a mongos source: its balancer, config.collections,
// and the movePrimary warning. It returns the shards listShards names.
func routerChecks(ctx context.Context, r *Report, cfg *config.Config, router *mongo.Client) []config.Shard {
	var shards []config.Shard
	listed, err := sharding.ListShards(ctx, router)
	if err != nil {
		r.Results = append(r.Results, unknown("source.shards", "listShards", err, "grant the listShards action (clusterMonitor)"))
	} else {
		for _, l := range listed {
			sh, err := config.RouterShard(cfg.Src, l.ID, l.Host)
			if err != nil {
				r.add("shard "+l.ID+".reachable", Fail, err.Error(), "")
				continue
			}
			shards = append(shards, sh)
		}
		r.ok("source.shards", "listShards names %d shards", len(listed))
	}
	r.Results = append(r.Results, balancerCheck(ctx, router))
	r.Results = append(r.Results, reshardingCheck(ctx, router, cfg.Namespaces()))
	colls, err := sharding.Collections(ctx, router)
	if err != nil {
		r.Results = append(r.Results, unknown("source.config.collections", "read config.collections", err, "grant read on database config"))
	} else {
		var names []string
		for _, c := range colls {
			names = append(names, c.NS)
		}
		sort.Strings(names)
		r.ok("source.config.collections", "%d sharded collections: %s", len(names), strings.Join(names, ", "))
	}
	r.add("source.movePrimary", Warn, "movePrimary is followed only by one sync process over every shard: there the old primary's drop is passed over once the new primary holds the collection; "+
		"shards synced by separate --shard processes share no catalog, and the donor's drop would drop the database's unsharded collections on the destination",
		"with --shard processes, do not run movePrimary (or removeShard, which needs it) until the cutover, nor, on 5.0, reshardCollection (its donors drop the collection plainly, emptying it on the destination; the shard's applier then stops at the rename, naming it)")
	return shards
}

// balancerCheck asks the mongos for its balancer's state
// (sharding.BalancerState: balancerStatus, or config.settings where the
// server has no balancerStatus) and judges it by sharding.CheckBalancer's
// rule.
func balancerCheck(ctx context.Context, router *mongo.Client) Result {
	const check = "source.balancer"
	b, err := sharding.BalancerState(ctx, router)
	var asked *sharding.BalancerError
	switch {
	case errors.As(err, &asked):
		return unknown(check, asked.What, asked.Err, "stop the balancer (sh.stopBalancer()) before the sync")
	case err != nil: // an answer without a mode
		return Result{Check: check, Status: Unknown, Detail: err.Error()}
	}
	if err := sharding.CheckBalancer(b); err != nil {
		return Result{Check: check, Status: Fail, Detail: err.Error(), Do: "sh.stopBalancer(), and keep it off until the cutover"}
	}
	return Result{Check: check, Status: OK, Detail: fmt.Sprintf("balancer mode %q, no round under way: chunks stay where they are", b.Mode)}
}

// reshardingCheck fails while a resharding of a selected collection is
// under way (a document in config.reshardingOperations, the coordinator's
// state: {_id: reshardingUUID, ns, ui, tempNs, reshardingKey, state, ...},
// mongodb/mongo src/mongo/db/s/resharding/common_types.idl
// CommonReshardingMetadata; removed when it ends). A sync begun during it
// never sees its recipients create their temporary collection, and a 5.0
// donor's plain drop of the original would then empty the destination's
// collection: the applier stops at the rename (applier/translate/resharding.go).
func reshardingCheck(ctx context.Context, router *mongo.Client, ns *config.Namespaces) Result {
	const check = "source.resharding"
	cur, err := router.Database("config").Collection("reshardingOperations").Find(ctx, bson.D{},
		options.Find().SetProjection(bson.D{{Key: "ns", Value: 1}, {Key: "state", Value: 1}}))
	if err != nil {
		return unknown(check, "read config.reshardingOperations", err, "grant read on database config")
	}
	var ops []struct {
		NS    string `bson:"ns"`
		State string `bson:"state"`
	}
	if err := cur.All(ctx, &ops); err != nil {
		return unknown(check, "read config.reshardingOperations", err, "grant read on database config")
	}
	var under []string
	for _, op := range ops {
		if db, coll := config.SplitNS(op.NS); ns.Selected(db, coll) {
			under = append(under, fmt.Sprintf("%s (state %s)", op.NS, op.State))
		}
	}
	if len(under) == 0 {
		return Result{Check: check, Status: OK, Detail: "no resharding of a selected collection under way"}
	}
	detail := "a resharding of a selected collection is under way: " + strings.Join(under, ", ")
	do := "start the sync once it has ended (config.reshardingOperations empty), or abort it (abortReshardCollection)"
	if reply, err := router.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw(); err == nil {
		if v, err := parseBuildInfo(reply); err == nil && cmpVersion(v.Major, v.Minor, [2]int{6, 0}) >= 0 {
			// 6.0 on logs its renames and donors' drops with fromMigrate:
			// they only move the shards' catalogs.
			return Result{Check: check, Status: Warn, Detail: detail + "; MongoDB " + v.Text +
				" logs its rename and its donors' drops with fromMigrate, which the sync follows; the destination keeps the original's indexes, not the new shard key's", Do: do}
		}
	}
	return Result{Check: check, Status: Fail, Detail: detail +
		"; a sync begun during it cannot follow it (a 5.0 donor drops the collection plainly, perhaps before its recipients rename the new copy over it)", Do: do}
}

// shardedFromShards fails every selected collection that the shards' own
// routing caches say is sharded (config.cache.collections on each shard
// primary, {_id: ns, key, ...}: mongodb/mongo NamespaceString's
// kShardConfigCollectionsNamespace, src/mongo/db/namespace_string_reserved.def.h;
// 8.0's unsplittable tracked collections are left out), when the source
// is given as src.shards without a mongos: read from shards alone, its
// orphaned documents would be copied as if they were owned.
func shardedFromShards(ctx context.Context, r *Report, name string, c *mongo.Client, ns *config.Namespaces) {
	check := "shard " + name + ".sharded_collections"
	bad, err := sharding.ShardedOnShard(ctx, c, ns)
	if err != nil {
		r.Results = append(r.Results, unknown(check, "read config.cache.collections", err, "add the cluster's mongos as src beside src.shards"))
		return
	}
	r.Results = append(r.Results, shardedFromShardsResult(check, bad))
}

func shardedFromShardsResult(check string, bad []string) Result {
	if len(bad) == 0 {
		return Result{Check: check, Status: OK, Detail: "no selected collection is sharded (config.cache.collections)"}
	}
	sort.Strings(bad)
	return Result{Check: check, Status: Fail,
		Detail: "sharded collections selected while the source is given as src.shards without a mongos: " + strings.Join(bad, ", ") +
			": read from the shards alone, orphaned documents would be copied and verified as if they were owned",
		Do: "set src to the cluster's mongos beside src.shards (the copy and verify then go through it)"}
}

// bypassUsers warns about users whose roles hold bypassWriteBlockingMode
// (root and restore among the built-in roles: mongodb/mongo
// src/mongo/db/auth/builtin_roles.yml, role_graph_builtin_roles.cpp before
// 7.0): `cutover --block-writes` does not block their writes.
func bypassUsers(ctx context.Context, r *Report, c *mongo.Client) {
	raw, err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "usersInfo", Value: bson.D{{Key: "forAllDBs", Value: true}}}}).Raw()
	if err != nil {
		r.Results = append(r.Results, unknown("source.bypassWriteBlockingMode", "usersInfo", err,
			"before cutover --block-writes, make sure no application connects as a user with root or restore: setUserWriteBlockMode does not block them"))
		return
	}
	r.Results = append(r.Results, bypassResult(raw))
}

func bypassResult(raw bson.Raw) Result {
	const check = "source.bypassWriteBlockingMode"
	arr, _ := raw.Lookup("users").ArrayOK()
	vals, _ := arr.Values()
	var holders []string
	for _, v := range vals {
		u, _ := v.DocumentOK()
		name, _ := u.Lookup("user").StringValueOK()
		db, _ := u.Lookup("db").StringValueOK()
		roles, _ := u.Lookup("roles").ArrayOK()
		rv, _ := roles.Values()
		for _, role := range rv {
			rd, _ := role.DocumentOK()
			rn, _ := rd.Lookup("role").StringValueOK()
			rdb, _ := rd.Lookup("db").StringValueOK()
			if rdb == "admin" && (rn == "root" || rn == "restore" || rn == "__system") {
				holders = append(holders, fmt.Sprintf("%s@%s (%s)", name, db, rn))
				break
			}
		}
	}
	if len(holders) == 0 {
		return Result{Check: check, Status: OK, Detail: fmt.Sprintf("none of the %d users holds root or restore, the built-in roles with bypassWriteBlockingMode (custom roles are not expanded)", len(vals))}
	}
	sort.Strings(holders)
	return Result{Check: check, Status: Warn,
		Detail: "users whose writes cutover --block-writes does not block (bypassWriteBlockingMode): " + strings.Join(holders, ", "),
		Do:     "make sure no application writes as these users during the cutover"}
}
