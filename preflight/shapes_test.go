package preflight

import (
	"context"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Replies in the shapes mongod returns, which the test server cannot
// produce (it has no replica set, no mongos, no authentication). Fields
// from mongodb/mongo src/mongo/db/repl/hello.idl (HelloCommandReply), the
// manual's hello, buildInfo, getParameter, connectionStatus and
// balancerStatus pages, and src/mongo/db/feature_compatibility_version_document.idl.

func raw(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHello_Shapes(t *testing.T) {
	topo := bson.D{{Key: "processId", Value: bson.NewObjectID()}, {Key: "counter", Value: int64(6)}}
	cases := []struct {
		name  string
		reply bson.D
		want  string
	}{
		// 4.4.0 and 4.4.1 answer hello CommandNotFound; their isMaster
		// says ismaster, not isWritablePrimary.
		{"4.4.1 isMaster, primary", bson.D{{Key: "topologyVersion", Value: topo}, {Key: "hosts", Value: bson.A{"a:27017", "b:27017"}},
			{Key: "setName", Value: "rs0"}, {Key: "setVersion", Value: int32(1)}, {Key: "ismaster", Value: true}, {Key: "secondary", Value: false},
			{Key: "primary", Value: "a:27017"}, {Key: "me", Value: "a:27017"}, {Key: "maxWireVersion", Value: int32(9)}, {Key: "ok", Value: 1.0}},
			"the primary of replica set rs0"},
		{"6.0 hello, secondary", bson.D{{Key: "topologyVersion", Value: topo}, {Key: "hosts", Value: bson.A{"a:27017", "b:27017"}},
			{Key: "setName", Value: "rs0"}, {Key: "isWritablePrimary", Value: false}, {Key: "secondary", Value: true},
			{Key: "primary", Value: "a:27017"}, {Key: "me", Value: "b:27017"}, {Key: "maxWireVersion", Value: int32(17)}, {Key: "ok", Value: 1.0}},
			"a secondary of replica set rs0"},
		{"8.0 hello, primary", bson.D{{Key: "topologyVersion", Value: topo}, {Key: "hosts", Value: bson.A{"a:27017", "b:27017"}},
			{Key: "setName", Value: "rs0"}, {Key: "setVersion", Value: int32(3)}, {Key: "isWritablePrimary", Value: true}, {Key: "secondary", Value: false},
			{Key: "primary", Value: "a:27017"}, {Key: "me", Value: "a:27017"}, {Key: "electionId", Value: bson.NewObjectID()},
			{Key: "maxWireVersion", Value: int32(25)}, {Key: "ok", Value: 1.0}},
			"the primary of replica set rs0"},
		{"8.0 hello, mongos", bson.D{{Key: "isWritablePrimary", Value: true}, {Key: "msg", Value: "isdbgrid"}, {Key: "topologyVersion", Value: topo},
			{Key: "maxWireVersion", Value: int32(25)}, {Key: "ok", Value: 1.0}},
			"a mongos (sharded cluster)"},
		{"6.0 hello, config server", bson.D{{Key: "topologyVersion", Value: topo}, {Key: "setName", Value: "cfg"}, {Key: "isWritablePrimary", Value: true},
			{Key: "secondary", Value: false}, {Key: "configsvr", Value: int32(2)}, {Key: "ok", Value: 1.0}},
			"a config server of a sharded cluster (replica set cfg)"},
		{"8.0 hello, standalone", bson.D{{Key: "isWritablePrimary", Value: true}, {Key: "topologyVersion", Value: topo}, {Key: "maxWireVersion", Value: int32(25)}, {Key: "ok", Value: 1.0}},
			"a standalone server (no replica set)"},
	}
	for _, c := range cases {
		if got := parseHello(raw(t, c.reply)).String(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// A secondary named alone cannot take the destination's writes.
	if r := destKindResult(parseHello(raw(t, cases[1].reply))); r.Status != Fail {
		t.Errorf("a secondary as destination: %s, want fail", r.Status)
	}
	if r := sourceKindResult(parseHello(raw(t, cases[4].reply)), false); r.Status != Fail {
		t.Errorf("a config server as source: %s, want fail", r.Status)
	}
}

func TestVersion_Shapes(t *testing.T) {
	cases := []struct {
		version string
		arr     bson.A
		want    Status
	}{
		{"3.6.23", bson.A{int32(3), int32(6), int32(23), int32(0)}, Fail},
		{"4.2.24", bson.A{int32(4), int32(2), int32(24), int32(0)}, Fail},
		{"4.4.29", bson.A{int32(4), int32(4), int32(29), int32(0)}, OK},
		{"6.0.19", bson.A{int32(6), int32(0), int32(19), int32(0)}, OK},
		{"8.0.4", bson.A{int32(8), int32(0), int32(4), int32(0)}, OK},
		{"8.2.1", bson.A{int32(8), int32(2), int32(1), int32(0)}, Warn},
	}
	for _, c := range cases {
		reply := raw(t, bson.D{{Key: "version", Value: c.version}, {Key: "gitVersion", Value: "abc"}, {Key: "modules", Value: bson.A{}},
			{Key: "allocator", Value: "tcmalloc"}, {Key: "javascriptEngine", Value: "mozjs"}, {Key: "sysInfo", Value: "deprecated"},
			{Key: "versionArray", Value: c.arr}, {Key: "bits", Value: int32(64)}, {Key: "debug", Value: false}, {Key: "maxBsonObjectSize", Value: int32(16777216)}, {Key: "ok", Value: 1.0}})
		v, err := parseBuildInfo(reply)
		if err != nil {
			t.Fatalf("%s: %v", c.version, err)
		}
		if r := versionResult("v", v); r.Status != c.want {
			t.Errorf("%s: %s (%s), want %s", c.version, r.Status, r.Detail, c.want)
		}
	}
}

func TestFCV_Shapes(t *testing.T) {
	fcv := func(fields ...bson.E) bson.Raw {
		return raw(t, bson.D{{Key: "featureCompatibilityVersion", Value: bson.D(fields)}, {Key: "ok", Value: 1.0}})
	}
	cases := []struct {
		name  string
		reply bson.Raw
		v     Version
		want  Status
	}{
		{"4.4 steady", fcv(bson.E{Key: "version", Value: "4.4"}), Version{Major: 4, Minor: 4}, OK},
		{"4.4 upgrading from 4.2", fcv(bson.E{Key: "version", Value: "4.2"}, bson.E{Key: "targetVersion", Value: "4.4"}), Version{Major: 4, Minor: 4}, Warn},
		{"6.0 upgrading from 5.0", fcv(bson.E{Key: "version", Value: "5.0"}, bson.E{Key: "targetVersion", Value: "6.0"}), Version{Major: 6}, Warn},
		{"8.0 downgrading to 7.0", fcv(bson.E{Key: "version", Value: "7.0"}, bson.E{Key: "targetVersion", Value: "7.0"}, bson.E{Key: "previousVersion", Value: "8.0"}), Version{Major: 8}, Warn},
		{"8.0 binary, fcv 7.0", fcv(bson.E{Key: "version", Value: "7.0"}), Version{Major: 8}, Warn},
		{"8.0 steady", fcv(bson.E{Key: "version", Value: "8.0"}), Version{Major: 8}, OK},
		{"4.4 binary, fcv 4.2", fcv(bson.E{Key: "version", Value: "4.2"}), Version{Major: 4, Minor: 4}, Fail},
	}
	for _, c := range cases {
		f, err := parseFCV(c.reply)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r := fcvResult("fcv", f, c.v); r.Status != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, r.Status, r.Detail, c.want)
		}
	}
}

// connectionStatus {showPrivileges: true} of a user with readAnyDatabase
// and clusterMonitor on 6.0: privileges on {db: "", collection: ""}
// (anyNormalResource) do not cover database local
// (src/mongo/db/auth/resource_pattern_search_list.h), so the oplog needs
// read on local itself.
func TestPrivileges_Shapes(t *testing.T) {
	user := func(privs ...bson.D) bson.Raw {
		arr := bson.A{}
		for _, p := range privs {
			arr = append(arr, p)
		}
		return raw(t, bson.D{{Key: "authInfo", Value: bson.D{
			{Key: "authenticatedUsers", Value: bson.A{bson.D{{Key: "user", Value: "sync"}, {Key: "db", Value: "admin"}}}},
			{Key: "authenticatedUserRoles", Value: bson.A{bson.D{{Key: "role", Value: "readAnyDatabase"}, {Key: "db", Value: "admin"}}}},
			{Key: "authenticatedUserPrivileges", Value: arr}}}, {Key: "ok", Value: 1.0}})
	}
	priv := func(res bson.D, actions ...string) bson.D {
		a := bson.A{}
		for _, s := range actions {
			a = append(a, s)
		}
		return bson.D{{Key: "resource", Value: res}, {Key: "actions", Value: a}}
	}
	anyNormal := bson.D{{Key: "db", Value: ""}, {Key: "collection", Value: ""}}
	cluster := bson.D{{Key: "cluster", Value: true}}
	local := bson.D{{Key: "db", Value: "local"}, {Key: "collection", Value: ""}}
	needs := sourceNeeds([]string{"blog"}, []string{"blog.posts"})

	readAny := user(priv(anyNormal, "find", "listCollections", "listIndexes", "collStats", "dbStats"), priv(cluster, "listDatabases"))
	r := judgePrivileges("source.privileges", readAny, needs, "read")
	if r.Status != Fail || !strings.Contains(r.Detail, "find on local.oplog.rs") {
		t.Errorf("readAnyDatabase without read on local: %s %q, want fail naming find on local.oplog.rs", r.Status, r.Detail)
	}
	withLocal := user(priv(anyNormal, "find", "listCollections"), priv(cluster, "listDatabases"), priv(local, "find", "listCollections"))
	if r := judgePrivileges("source.privileges", withLocal, needs, "read"); r.Status != OK {
		t.Errorf("readAnyDatabase + read on local: %s %q, want ok", r.Status, r.Detail)
	}
	noCluster := user(priv(anyNormal, "find", "listCollections"), priv(local, "find"))
	if r := judgePrivileges("source.privileges", noCluster, needs, "read"); r.Status != Fail || !strings.Contains(r.Detail, "listDatabases on the cluster") {
		t.Errorf("no listDatabases: %s %q", r.Status, r.Detail)
	}
	root := user(priv(bson.D{{Key: "anyResource", Value: true}}, "find", "listCollections", "listDatabases"))
	if r := judgePrivileges("source.privileges", root, needs, "read"); r.Status != OK {
		t.Errorf("anyResource: %s %q, want ok", r.Status, r.Detail)
	}
	// A destination user with readWrite on blog only: nothing on mongo_sync,
	// no collMod or bypassDocumentValidation.
	rw := user(priv(bson.D{{Key: "db", Value: "blog"}, {Key: "collection", Value: ""}},
		"find", "insert", "update", "remove", "createIndex", "dropIndex", "createCollection", "dropCollection"))
	r = judgePrivileges("destination.privileges", rw, destNeeds([]string{"blog"}, "mongo_sync"), "readWrite")
	if r.Status != Fail || !strings.Contains(r.Detail, "collMod, bypassDocumentValidation on database blog") || !strings.Contains(r.Detail, "on database mongo_sync") {
		t.Errorf("readWrite on blog only: %s %q", r.Status, r.Detail)
	}
	// Authentication off: what the test server says.
	off := raw(t, bson.D{{Key: "authInfo", Value: bson.D{{Key: "authenticatedUsers", Value: bson.A{}}, {Key: "authenticatedUserRoles", Value: bson.A{}}}}, {Key: "ok", Value: 1.0}})
	if r := judgePrivileges("p", off, needs, "read"); r.Status != OK || !strings.Contains(r.Detail, "authentication off") {
		t.Errorf("auth off: %s %q", r.Status, r.Detail)
	}
}

func TestResourceMatch(t *testing.T) {
	anyNormal := privilege{hasDB: true}
	byName := privilege{hasDB: true, coll: "oplog.rs"}
	db := privilege{hasDB: true, db: "blog"}
	for _, c := range []struct {
		p    privilege
		t    Target
		want bool
	}{
		{anyNormal, Target{DB: "blog", Coll: "posts"}, true},
		{anyNormal, Target{DB: "local", Coll: "oplog.rs"}, false},
		{anyNormal, Target{DB: "config"}, false},
		{anyNormal, Target{DB: "blog", Coll: "system.views"}, false},
		{anyNormal, Target{Cluster: true}, false},
		{byName, Target{DB: "local", Coll: "oplog.rs"}, true},
		{db, Target{DB: "blog", Coll: "posts"}, true},
		{db, Target{DB: "blog"}, true},
		{db, Target{DB: "blog2"}, false},
	} {
		if got := c.p.matches(c.t); got != c.want {
			t.Errorf("%+v on %s: %v, want %v", c.p, c.t, got, c.want)
		}
	}
}

// balancerStatus in the manual's shape (4.4, 6.0), and 8.0's with term;
// a refusal, said as the server's. A server without balancerStatus
// (CommandNotFound, before 3.4) is judged by config.settings' balancer
// document (stopped: true; none: never stopped, so on).
func TestBalancer_Shapes(t *testing.T) {
	cases := []struct {
		name    string
		replies []bson.D
		want    Status
		detail  string // the line's detail begins with it
	}{
		{"4.4 full", []bson.D{{{Key: "mode", Value: "full"}, {Key: "inBalancerRound", Value: false}, {Key: "numBalancerRounds", Value: int64(1143)}, {Key: "ok", Value: 1.0}}}, Fail, ""},
		{"6.0 off, in round", []bson.D{{{Key: "mode", Value: "off"}, {Key: "inBalancerRound", Value: true}, {Key: "numBalancerRounds", Value: int64(7)}, {Key: "ok", Value: 1.0}}}, Fail, ""},
		{"4.4 autoSplitOnly", []bson.D{{{Key: "mode", Value: "autoSplitOnly"}, {Key: "inBalancerRound", Value: false}, {Key: "numBalancerRounds", Value: int64(3)}, {Key: "ok", Value: 1.0}}}, OK,
			`balancer mode "autoSplitOnly", no round under way`},
		{"8.0 off", []bson.D{{{Key: "mode", Value: "off"}, {Key: "inBalancerRound", Value: false}, {Key: "numBalancerRounds", Value: int64(12)}, {Key: "term", Value: int64(2)}, {Key: "ok", Value: 1.0}}}, OK,
			`balancer mode "off", no round under way`},
		{"no mode", []bson.D{{{Key: "ok", Value: 1.0}}}, Unknown, "balancerStatus reply has no mode"},
		{"refused", []bson.D{{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "not authorized on admin to execute command { balancerStatus: 1 }"},
			{Key: "code", Value: int32(13)}, {Key: "codeName", Value: "Unauthorized"}}}, Unknown, "balancerStatus: the server did not answer: "},
	}
	notFound := bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "no such cmd: balancerStatus"}, {Key: "code", Value: int32(59)}, {Key: "codeName", Value: "CommandNotFound"}}
	settings := func(docs ...any) bson.D {
		return bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: append(bson.A{}, docs...)}, {Key: "id", Value: int64(0)}, {Key: "ns", Value: "config.settings"}}}, {Key: "ok", Value: 1.0}}
	}
	cases = append(cases, []struct {
		name    string
		replies []bson.D
		want    Status
		detail  string
	}{
		{"3.2 stopped", []bson.D{notFound, settings(bson.D{{Key: "_id", Value: "balancer"}, {Key: "stopped", Value: true}})}, OK, `balancer mode "off"`},
		{"3.2 never stopped", []bson.D{notFound, settings()}, Fail, ""},
		{"3.2 started again", []bson.D{notFound, settings(bson.D{{Key: "_id", Value: "balancer"}, {Key: "stopped", Value: false}})}, Fail, ""},
	}...)
	for _, c := range cases {
		router, _ := testmongo.Replying(t, c.replies...)
		if r := balancerCheck(context.Background(), router); r.Status != c.want || !strings.HasPrefix(r.Detail, c.detail) {
			t.Errorf("%s: %s (%s), want %s (%s...)", c.name, r.Status, r.Detail, c.want, c.detail)
		}
	}
}

// A 4.4 replica set with enableMajorityReadConcern: false answers a
// majority read with ReadConcernMajorityNotEnabled (148,
// src/mongo/base/error_codes.yml; see internal/mongoerr).
func TestMajority_NotEnabled(t *testing.T) {
	err := mongo.CommandError{Code: mongoerr.ReadConcernMajorityNotEnabled, Name: "ReadConcernMajorityNotEnabled",
		Message: "Majority read concern requested, but server was not started with --enableMajorityReadConcern."}
	r := majorityResult("source.majority", err)
	if r.Status != Fail || !strings.Contains(r.Detail, "enableMajorityReadConcern: false") {
		t.Errorf("148: %s %q, want fail with the explanation", r.Status, r.Detail)
	}
	if r := majorityResult("source.majority", nil); r.Status != OK {
		t.Errorf("a majority read that answered: %s", r.Status)
	}
	if r := majorityResult("source.majority", mongo.CommandError{Code: 6, Name: "HostUnreachable"}); r.Status != Unknown {
		t.Errorf("another error: %s, want unknown", r.Status)
	}
}

func TestShardedFromShards(t *testing.T) {
	if r := shardedFromShardsResult("c", []string{"shop.orders"}); r.Status != Fail || !strings.Contains(r.Detail, "shop.orders") {
		t.Errorf("a sharded collection from shards alone: %s %q", r.Status, r.Detail)
	}
	if r := shardedFromShardsResult("c", nil); r.Status != OK {
		t.Errorf("none: %s", r.Status)
	}
}

// usersInfo {forAllDBs: true} (the manual's usersInfo page: users [{_id,
// userId, user, db, roles [{role, db}], mechanisms}]).
func TestBypassUsers_Shape(t *testing.T) {
	u := func(name, role string) bson.D {
		return bson.D{{Key: "_id", Value: "admin." + name}, {Key: "userId", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
			{Key: "user", Value: name}, {Key: "db", Value: "admin"}, {Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: role}, {Key: "db", Value: "admin"}}}},
			{Key: "mechanisms", Value: bson.A{"SCRAM-SHA-256"}}}
	}
	r := bypassResult(raw(t, bson.D{{Key: "users", Value: bson.A{u("app", "readWrite"), u("ops", "root")}}, {Key: "ok", Value: 1.0}}))
	if r.Status != Warn || !strings.Contains(r.Detail, "ops@admin (root)") || strings.Contains(r.Detail, "app@") {
		t.Errorf("root user: %s %q", r.Status, r.Detail)
	}
	if r := bypassResult(raw(t, bson.D{{Key: "users", Value: bson.A{u("app", "readWrite")}}, {Key: "ok", Value: 1.0}})); r.Status != OK {
		t.Errorf("no holder: %s", r.Status)
	}
}

// config.reshardingOperations as the config server keeps it while a
// resharding runs (mongodb/mongo src/mongo/db/s/resharding/common_types.idl,
// CommonReshardingMetadata: _id, ns, ui, tempNs, reshardingKey; the
// coordinator's state beside them): a selected collection under way fails
// the check on 5.0, naming it, and warns from 6.0 (fromMigrate forms,
// followed); another database's passes; a refusal is unknown.
func TestResharding_Shapes(t *testing.T) {
	cfg := testConfig(t, "mongodb://h:1", "mongodb://h:2", "[[sync.dbs]]\ndb = \"shop\"\n")
	batch := func(docs ...any) bson.D {
		return bson.D{{Key: "cursor", Value: bson.D{{Key: "firstBatch", Value: append(bson.A{}, docs...)}, {Key: "id", Value: int64(0)},
			{Key: "ns", Value: "config.reshardingOperations"}}}, {Key: "ok", Value: 1.0}}
	}
	op := func(ns, state string) bson.D {
		return bson.D{{Key: "_id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}, {Key: "ns", Value: ns}, {Key: "state", Value: state}}
	}
	build := func(version string, arr ...int32) bson.D {
		return bson.D{{Key: "version", Value: version}, {Key: "versionArray", Value: bson.A{arr[0], arr[1], arr[2], int32(0)}}, {Key: "ok", Value: 1.0}}
	}
	for _, c := range []struct {
		name    string
		replies []bson.D
		want    Status
		detail  string
	}{
		{"none", []bson.D{batch()}, OK, "no resharding"},
		{"selected, 5.0", []bson.D{batch(op("blog.posts", "cloning"), op("shop.orders", "applying")), build("5.0.3", 5, 0, 3)}, Fail,
			"a resharding of a selected collection is under way: shop.orders (state applying); a sync begun during it cannot follow it"},
		{"selected, 7.0", []bson.D{batch(op("shop.orders", "cloning")), build("7.0.12", 7, 0, 12)}, Warn,
			"a resharding of a selected collection is under way: shop.orders (state cloning); MongoDB 7.0.12 logs its rename"},
		{"another database", []bson.D{batch(op("blog.posts", "cloning"))}, OK, "no resharding"},
		{"refused", []bson.D{{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "not authorized on config"}, {Key: "code", Value: int32(13)}, {Key: "codeName", Value: "Unauthorized"}}},
			Unknown, "read config.reshardingOperations: the server did not answer"},
	} {
		router, _ := testmongo.Replying(t, c.replies...)
		if r := reshardingCheck(context.Background(), router, cfg.Namespaces()); r.Status != c.want || !strings.HasPrefix(r.Detail, c.detail) {
			t.Errorf("%s: %s (%s), want %s (%s...)", c.name, r.Status, r.Detail, c.want, c.detail)
		}
	}
}
