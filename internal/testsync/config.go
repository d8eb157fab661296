// Package testsync holds what the tests of whole syncs share, in the
// command's package and in pipeline's: config files for the test server,
// the workloads they run on shards, and a comparison of source and
// destination that uses none of mongo-sync's code.
package testsync

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
)

// SyncSections are what most sync tests add to WriteConfig's file: the
// reader's progress interval, two databases (one renamed), and a copy that
// splits every collection into ranges.
const SyncSections = `progress_interval = "300ms"
[sync]
dbs = [ { db = "shop" }, { db = "crm", rename_db = "crm2" } ]
[copy]
split_docs = 400
split = "always" # the test server has no _id index scan; these tests cover the ranges
workers = 3
batch_docs = 200
`

// SyncedDBs is what SyncSections plus the hostile workload select, source
// database to destination database.
var SyncedDBs = map[string]string{"shop": "shop", "crm": "crm2", "hostile": "hostile"}

// WithHostile adds the hostile workload's database to a config's [sync] dbs.
func WithHostile(sections string) string {
	out := strings.Replace(sections, "dbs = [ ", `dbs = [ { db = "hostile" }, `, 1)
	if out == sections {
		panic("WithHostile: no dbs list in " + sections)
	}
	return out
}

// The test server (FerretDB v1.24.2, handler/msg_update.go) holds one SQLite
// connection for every statement of an update command until the command
// returns, from a pool of 100 per database. Update commands running at once
// whose statements add up to 100 then wait on each other for good: the
// server stops answering on that database, and no longer stops on SIGTERM.
// Every test keeps appliers × workers × bulk_size under that.
const TestServerConns = 96

// ApplierSection is the [applier] section for appliers writing into one
// test server at once (one per shard of a sharded source).
func ApplierSection(appliers int) string {
	const workers = 4
	return fmt.Sprintf("[applier]\nworkers = %d\nbulk_size = %d\n", workers, TestServerConns/(appliers*workers))
}

// WriteConfig writes a config file suited to the test server.
func WriteConfig(t *testing.T, dir, src, dst string, extra string) string {
	t.Helper()
	p := filepath.Join(dir, "conf.toml")
	body := fmt.Sprintf(`[src]
uri = %q
[dst]
uri = %q
[spool]
dir = %q
seal_interval = "100ms"
[store]
path = %q
%s[reader]
batch_interval = "50ms"
%s`, src, dst, filepath.Join(dir, "spool"), filepath.Join(dir, "state.db"), ApplierSection(1), extra)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ShardedConfig writes a config whose source is the given servers as the
// shards of one sharded source.
func ShardedConfig(t *testing.T, dir string, shards []*testmongo.Server, dst string, extra string) string {
	t.Helper()
	p := WriteConfig(t, dir, "", dst, extra)
	body, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, s := range shards {
		uris = append(uris, fmt.Sprintf("%q", s.URI))
	}
	out := strings.Replace(string(body), "[src]\nuri = \"\"\n", "[src]\nshards = ["+strings.Join(uris, ", ")+"]\n", 1)
	if out == string(body) {
		t.Fatalf("ShardedConfig: no empty [src] uri in\n%s", body)
	}
	// One applier per shard writes into the destination at once.
	if !strings.Contains(out, ApplierSection(1)) {
		t.Fatalf("ShardedConfig: no %q in\n%s", ApplierSection(1), out)
	}
	out = strings.Replace(out, ApplierSection(1), ApplierSection(len(shards)), 1)
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
