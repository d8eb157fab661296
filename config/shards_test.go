package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadBody(t *testing.T, body string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "conf.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

// src.shards: names from the replica set, the URI's replicaSet or the first
// host; [src]'s credentials apply to hosts entries; each shard gets its own
// spool directory and state file.
func TestShards_ParseAndDerive(t *testing.T) {
	cfg, err := loadBody(t, `[src]
username = "u"
password = "secret"
shards = ["rs1/a:27017,b:27017", "mongodb://c:27018/?replicaSet=rs2", "127.0.0.1:40001"]
[dst]
uri = "mongodb://d:27017/"
[spool]
dir = "/var/spool/ms"
[store]
path = "/var/lib/ms/state.db"
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.RequireSource(); err != nil {
		t.Fatalf("shards alone are a source: %v", err)
	}
	shards, err := cfg.Shards()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range shards {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "rs1 rs2 127.0.0.1_40001" {
		t.Fatalf("names: %s", got)
	}
	if got := shards[0].Mongo.ConnString(); !strings.Contains(got, "u:secret@a:27017,b:27017") || !strings.Contains(got, "replicaSet=rs1") {
		t.Errorf("rs1 connection: %s", got)
	}
	if shards[1].Mongo.URI != "mongodb://c:27018/?replicaSet=rs2" {
		t.Errorf("a URI entry is kept as given: %+v", shards[1].Mongo)
	}
	sc := cfg.ForShard(shards[0])
	if sc.Spool.Dir != "/var/spool/ms/rs1" || sc.Store.Path != "/var/lib/ms/state.rs1.db" || sc.HTTP.Listen != "" || len(sc.Src.Shards) != 0 {
		t.Errorf("rs1's stages: spool %s, store %s, listen %q, shards %v", sc.Spool.Dir, sc.Store.Path, sc.HTTP.Listen, sc.Src.Shards)
	}
	if cfg.Spool.Dir != "/var/spool/ms" {
		t.Errorf("ForShard changed the cluster's config: %s", cfg.Spool.Dir)
	}
}

func TestShards_BadInput(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"two shards one name", "[src]\nshards = [\"rs1/a:1\", \"rs1/b:2\"]\n", `src.shards[1]: mongodb://b:2/?replicaSet=rs1 is named "rs1"`},
		{"a bad entry", "[src]\nshards = [\"mongodb://\"]\n", "src.shards[0]"},
		{"shards on the destination", "[dst]\nuri = \"mongodb://d:1/\"\nshards = [\"a:1\"]\n", "dst.shards: only the source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadBody(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
