package reader

import (
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A chunk migration's writes (fromMigrate CRUD) are skipped; a sharded
// collection's DDL logged with fromMigrate (a participant shard's drop,
// rename or first-chunk create, applier/translate/migrated.go) is spooled for the
// shard's catalog, selected like any command entry; convertToCapped's
// copies, also fromMigrate, are spooled as writes.
func TestFilter_FromMigrate(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	fm := func(op, ns string, o bson.D) bson.Raw {
		raw, _ := bson.Marshal(bson.D{{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "o", Value: o}, {Key: "fromMigrate", Value: true}})
		return raw
	}
	for _, f := range []Filter{{NS: c.Namespaces()}, {}} {
		for _, tc := range []struct {
			name string
			raw  bson.Raw
			want Verdict
		}{
			{"insert", fm("i", "app.c", bson.D{{Key: "_id", Value: 1}}), Skip},
			{"delete", fm("d", "app.c", bson.D{{Key: "_id", Value: 1}}), Skip},
			{"drop", fm("c", "app.$cmd", bson.D{{Key: "drop", Value: "c"}}), Spool},
			{"create", fm("c", "app.$cmd", bson.D{{Key: "create", Value: "c"}}), Spool},
			{"rename", fm("c", "app.$cmd", bson.D{{Key: "renameCollection", Value: "app.c"}, {Key: "to", Value: "app.d"}}), Spool},
			{"applyOps", fm("c", "admin.$cmd", bson.D{{Key: "applyOps", Value: bson.A{}}}), Skip},
			// convertToCapped's copies (config.CappedCopy): the collection's documents.
			{"convertToCapped copy", fm("i", "app.tmpAbC12.convertToCapped.c", bson.D{{Key: "_id", Value: 1}}), Spool},
			{"convertToCapped copy before 4.2", fm("i", "app.tmp.convertToCapped.c", bson.D{{Key: "_id", Value: 1}}), Spool},
			{"insert into a look-alike", fm("i", "app.tmpA.b.convertToCapped.c", bson.D{{Key: "_id", Value: 1}}), Skip},
		} {
			if got := f.Judge(tc.raw); got != tc.want {
				t.Errorf("%s (selection %v): verdict %v, want %v", tc.name, f.NS != nil, got, tc.want)
			}
		}
	}
	// A sync of app.d alone leaves out convertToCapped's copies of app.c:
	// they would put a collection the sync leaves out on the destination.
	only := config.Default()
	only.Src.URI, only.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app", Colls: []config.Coll{{Coll: "d"}}}}
	if err := only.Finish(); err != nil {
		t.Fatal(err)
	}
	for coll, want := range map[string]Verdict{"tmpAbC12.convertToCapped.c": Skip, "tmpAbC12.convertToCapped.d": Spool} {
		if got := (Filter{NS: only.Namespaces()}).Judge(fm("i", "app."+coll, bson.D{{Key: "_id", Value: 1}})); got != want {
			t.Errorf("convertToCapped's copy into app.%s, app.d selected: verdict %v, want %v", coll, got, want)
		}
	}
	other := fm("c", "other.$cmd", bson.D{{Key: "drop", Value: "c"}})
	if got := (Filter{NS: c.Namespaces()}).Judge(other); got != Skip {
		t.Errorf("a migration's drop in an unselected database: verdict %v, want Skip", got)
	}
}

// cloneCollectionAsCapped on a replica set logs an ordinary create of the
// capped target, then each copied document as a plain insert with
// fromMigrate: true (mongodb/mongo src/mongo/db/catalog/capped_utils.cpp,
// read at 4.2, 6.0, 7.0 and 8.0; see translate/capped_test.go for the
// shapes); a 4.2 rename across databases copies into
// tmp<5 chars>.renameCollection the same way (rename_collection.cpp
// renameBetweenDBs). A replica set runs no chunk migration: its fromMigrate
// writes are spooled as any write of a selected namespace. A shard's reader
// still leaves them out.
func TestFilter_ReplicaSetKeepsFromMigrateWrites(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	ui := bson.Binary{Subtype: 4, Data: make([]byte, 16)}
	entry := func(op, ns string, o bson.D, fromMigrate bool) bson.Raw {
		d := bson.D{{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "ui", Value: ui}, {Key: "o", Value: o}}
		if fromMigrate {
			d = append(d, bson.E{Key: "fromMigrate", Value: true})
		}
		raw, _ := bson.Marshal(d)
		return raw
	}
	create := entry("c", "app.$cmd", bson.D{{Key: "create", Value: "events_capped"}, {Key: "capped", Value: true}, {Key: "size", Value: int32(4096)},
		{Key: "idIndex", Value: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}}, false)
	copied := entry("i", "app.events_capped", bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: "a"}}, true)
	renamed := entry("i", "app.tmpXy12Z.renameCollection", bson.D{{Key: "_id", Value: int32(1)}}, true)
	deleted := entry("d", "app.events_capped", bson.D{{Key: "_id", Value: int32(1)}}, true)
	elsewhere := entry("i", "other.events_capped", bson.D{{Key: "_id", Value: int32(1)}}, true)
	internal := entry("i", "config.system.sessions", bson.D{{Key: "_id", Value: int32(1)}}, true)
	for _, tc := range []struct {
		name            string
		raw             bson.Raw
		replicaSet      Verdict
		replicaSetAll   Verdict // no selection: every non-internal namespace
		shard, shardAll Verdict
	}{
		{"the capped target's create", create, Spool, Spool, Spool, Spool},
		{"cloneCollectionAsCapped's copy", copied, Spool, Spool, Skip, Skip},
		{"a 4.2 rename's copy across databases", renamed, Spool, Spool, Skip, Skip},
		{"a fromMigrate delete", deleted, Spool, Spool, Skip, Skip},
		{"a copy in an unselected database", elsewhere, Skip, Spool, Skip, Skip},
		{"an internal collection's", internal, Skip, Skip, Skip, Skip},
	} {
		for _, f := range []struct {
			filter Filter
			want   Verdict
		}{
			{Filter{NS: c.Namespaces(), ReplicaSet: true}, tc.replicaSet},
			{Filter{ReplicaSet: true}, tc.replicaSetAll},
			{Filter{NS: c.Namespaces()}, tc.shard},
			{Filter{}, tc.shardAll},
		} {
			if got := f.filter.Judge(tc.raw); got != f.want {
				t.Errorf("%s (replica set %v, selection %v): verdict %v, want %v", tc.name, f.filter.ReplicaSet, f.filter.NS != nil, got, f.want)
			}
		}
	}
}

// The pipeline's filter follows the config: a replica set's keeps its
// fromMigrate writes, each shard's (config.ForShard) leaves them out.
func TestFilterFor_ShardOrReplicaSet(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if f := FilterFor(c); !f.ReplicaSet || f.NS == nil {
		t.Errorf("a replica set's filter: ReplicaSet %v, selection %v; want true, set", f.ReplicaSet, f.NS != nil)
	}
	sh := c.ForShard(config.Shard{Name: "sh0", Mongo: config.Mongo{URI: "mongodb://h:2/"}})
	if f := FilterFor(sh); f.ReplicaSet || f.NS == nil {
		t.Errorf("shard sh0's filter: ReplicaSet %v, selection %v; want false, set", f.ReplicaSet, f.NS != nil)
	}
}

// The write that makes a replica set a shard (its identity in
// admin.system.version, oplog.ShardIdentityWrite) is spooled by a replica
// set's reader, which then stops at it in the applier; its other writes to
// admin.system.version (the FCV) are not. A shard's reader leaves them all
// out. The oplog query lets the namespace through only for a replica set.
func TestFilter_ShardIdentityOfAReplicaSet(t *testing.T) {
	c := config.Default()
	c.Src.URI, c.Sync.DBs = "mongodb://h:1/", []config.DB{{DB: "app"}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	entry := func(op string, o, o2 bson.D) bson.Raw {
		d := bson.D{{Key: "op", Value: op}, {Key: "ns", Value: "admin.system.version"}, {Key: "o", Value: o}}
		if o2 != nil {
			d = append(d, bson.E{Key: "o2", Value: o2})
		}
		raw, _ := bson.Marshal(d)
		return raw
	}
	identity := entry("i", bson.D{{Key: "_id", Value: "shardIdentity"}, {Key: "shardName", Value: "rs1"}, {Key: "clusterId", Value: bson.NewObjectID()}}, nil)
	readded := entry("u", bson.D{{Key: "$set", Value: bson.D{{Key: "configsvrConnectionString", Value: "cfg/c2:27019"}}}}, bson.D{{Key: "_id", Value: "shardIdentity"}})
	fcv := entry("u", bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: "7.0"}}}}, bson.D{{Key: "_id", Value: "featureCompatibilityVersion"}})
	for _, tc := range []struct {
		name string
		f    Filter
		raw  bson.Raw
		want Verdict
	}{
		{"replica set: identity inserted", FilterFor(c), identity, Spool},
		{"replica set: identity updated", FilterFor(c), readded, Spool},
		{"replica set: FCV", FilterFor(c), fcv, Skip},
		{"replica set, everything selected: identity", Filter{ReplicaSet: true}, identity, Spool},
		{"shard: identity", Filter{NS: c.Namespaces()}, identity, Skip},
	} {
		if got := tc.f.Judge(tc.raw); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	has := func(f Filter) bool {
		b, _ := bson.MarshalExtJSON(f.serverFilter(), false, false)
		return strings.Contains(string(b), `{"ns":"admin.system.version"}`)
	}
	if !has(FilterFor(c)) || has(Filter{NS: c.Namespaces()}) {
		t.Errorf("the oplog query lets admin.system.version through: replica set %v, shard %v; want true, false", has(FilterFor(c)), has(Filter{NS: c.Namespaces()}))
	}
}
