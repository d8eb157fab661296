package testmongo

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The deployments of make test-real are shared by every test of the run,
// one test at a time (go test -p 1; no test here calls t.Parallel). A test
// starts on a deployment that holds no database of its own and, when it
// ends, drops every database it created, so the next test (and the next
// run, with no reset in between) finds the same. The suite's fixtures name
// their databases as MongoDB's own oplog entries do (shop.orders), which
// is why isolation is by time rather than by name.

// keep are the databases a test never drops: the server's own, and the
// deployment marker mongo-sync writes on first contact (a test that
// created it drops it; one left by an earlier run stays).
var keep = []string{"admin", "local", "config", "mongo_sync"}

var (
	realMu      sync.Mutex
	realClients = map[string]*mongo.Client{} // by URI, for the process
	realUses    = map[testing.TB]map[string]bool{}
)

func startReal(t testing.TB, envVar, uri string) *Server {
	t.Helper()
	if other := otherRole(envVar); other != "" && os.Getenv(other) == uri {
		t.Fatalf("%s and %s name the same deployment (%s): make test-real needs two", envVar, other, uri)
	}
	realMu.Lock()
	uses := realUses[t]
	if uses == nil {
		uses = map[string]bool{}
		realUses[t] = uses
		t.Cleanup(func() { realMu.Lock(); delete(realUses, t); realMu.Unlock() })
	}
	second := uses[envVar]
	uses[envVar] = true
	client := realClients[uri]
	if client == nil {
		c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(20 * time.Second))
		if err != nil {
			realMu.Unlock()
			t.Fatalf("%s=%s: %v", envVar, uri, err)
		}
		client, realClients[uri] = c, c
	}
	realMu.Unlock()
	if second {
		t.Skipf("needs a second deployment in the %s role; %s names one (kept to the test server)", envVar, envVar)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatalf("%s=%s: listDatabases: %v", envVar, uri, err)
	}
	var leftover []string
	for _, n := range before {
		if !slices.Contains(keep, n) {
			leftover = append(leftover, n)
		}
	}
	if len(leftover) > 0 {
		t.Fatalf("%s holds databases %v: each test creates and drops its own, on a deployment that holds none. "+
			"Drop them (an interrupted run leaves its test's behind) or point %s at a scratch deployment", envVar, leftover, envVar)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		after, err := client.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			t.Errorf("%s: listDatabases after the test: %v", envVar, err)
			return
		}
		for _, n := range after {
			if slices.Contains(before, n) || slices.Contains(keep[:3], n) {
				continue
			}
			if err := client.Database(n).Drop(ctx); err != nil {
				t.Errorf("%s: drop %s, which the test created: %v", envVar, n, err)
			}
		}
	})

	var info bson.M
	testServer := false
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err == nil {
		_, testServer = info["ferretdbVersion"]
	}
	return &Server{URI: uri, Real: true, TestServer: testServer, t: t}
}

func otherRole(envVar string) string {
	switch envVar {
	case "MONGO_SYNC_TEST_SRC":
		return "MONGO_SYNC_TEST_DST"
	case "MONGO_SYNC_TEST_DST":
		return "MONGO_SYNC_TEST_SRC"
	}
	return ""
}

// RequireTestServer skips a test that can only run on a test server it
// starts itself (it writes local.oplog.rs, kills the server, …) when s is
// a deployment named by the environment; why says what it needs.
func (s *Server) RequireTestServer(t testing.TB, why string) {
	t.Helper()
	if s.Real {
		t.Skipf("kept to the test server: %s", why)
	}
}
