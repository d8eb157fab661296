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
	// Its stages know they read a shard: fromMigrate writes there are a
	// chunk migration's (reader.FilterFor, translate.Translator.ReplicaSet).
	if sc.Shard() != "rs1" || cfg.Shard() != "" {
		t.Errorf("Shard(): rs1's stages %q, the cluster's config %q; want rs1, empty", sc.Shard(), cfg.Shard())
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

// A mongos source's shards take the router's credentials and options with
// their own hosts and replica set name; options that only fit the router
// are dropped, and a mongodb+srv router's TLS carries over.
func TestRouterShard_URI(t *testing.T) {
	cases := []struct {
		router, host, want, name string
	}{
		{"mongodb://u:p%40ss@mongos1:27017,mongos2:27017/?authSource=admin&tls=true", "rs1/h1:27018,h2:27018",
			"mongodb://u:p%40ss@h1:27018,h2:27018/?authSource=admin&tls=true&replicaSet=rs1", "rs1"},
		{"mongodb://mongos:27017", "rs2/h3:27018", "mongodb://h3:27018/?replicaSet=rs2", "rs2"},
		{"mongodb://u:p@mongos:27017/admin?directConnection=true&replicaSet=x&loadBalanced=false&w=majority", "rs3/h4:1",
			"mongodb://u:p@h4:1/admin?w=majority&replicaSet=rs3", "rs3"},
		{"mongodb+srv://u:p@cluster.example.net/?authSource=admin", "rs4/a:27017,b:27017",
			"mongodb://u:p@a:27017,b:27017/?authSource=admin&tls=true&replicaSet=rs4", "rs4"},
		{"mongodb+srv://cluster.example.net/?authSource=x&ssl=false&srvServiceName=db", "rs5/a:1",
			"mongodb://a:1/?authSource=x&ssl=false&replicaSet=rs5", "rs5"},
		{"mongodb://mongos:27017", "old-standalone:27018", "mongodb://old-standalone:27018/", "shard0000"},
	}
	for _, c := range cases {
		sh, err := RouterShard(Mongo{URI: c.router}, c.name, c.host)
		if err != nil {
			t.Errorf("%s + %s: %v", c.router, c.host, err)
			continue
		}
		if sh.Mongo.URI != c.want || sh.Name != c.name {
			t.Errorf("%s + %s:\n got %s (%s)\nwant %s (%s)", c.router, c.host, sh.Mongo.URI, sh.Name, c.want, c.name)
		}
	}
	// The py-mongo-sync form: hosts and credentials.
	sh, err := RouterShard(Mongo{Hosts: "mongos:27017", Username: "u", Password: "p", AuthDB: "admin"}, "rs1", "rs1/h1:1,h2:2")
	if err != nil {
		t.Fatal(err)
	}
	if got := sh.Mongo.ConnString(); got != "mongodb://u:p@h1:1,h2:2/?authSource=admin&replicaSet=rs1" {
		t.Errorf("hosts form: %s", got)
	}
}

// The shards a mongos listed are recorded in the spool directory, and
// Shards returns them (with src's credentials) when src.shards is empty.
func TestListed_RecordedShards(t *testing.T) {
	dir := t.TempDir()
	c := &Config{Src: Mongo{URI: "mongodb://u:p@mongos:27017/?authSource=admin"}}
	c.Spool.Dir = filepath.Join(dir, "spool")
	if got, err := c.Shards(); err != nil || got != nil {
		t.Fatalf("before any record: %v %v", got, err)
	}
	if err := c.SaveListed("65a0c0ffee", []ListedShard{{ID: "rsA", Host: "rsA/a:1,a:2"}, {ID: "rsB", Host: "rsB/b:1"}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(c.Spool.Dir, "shards.json"))
	if id, _, err := c.Listing(); err != nil || id != "65a0c0ffee" {
		t.Errorf("cluster id: %q %v", id, err)
	}
	if strings.Contains(string(raw), ":p@") {
		t.Errorf("the record holds the password:\n%s", raw)
	}
	got, err := c.Shards()
	if err != nil || len(got) != 2 || got[0].Name != "rsA" || got[1].Mongo.URI != "mongodb://u:p@b:1/?authSource=admin&replicaSet=rsB" {
		t.Fatalf("recorded shards: %+v %v", got, err)
	}
	// A shard's own configuration does not see the record.
	if sub, err := c.ForShard(got[0]).Shards(); err != nil || sub != nil {
		t.Errorf("ForShard(...).Shards() = %v, %v", sub, err)
	}
	// A damaged record is an error naming the file.
	if err := os.WriteFile(filepath.Join(c.Spool.Dir, "shards.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shards(); err == nil || !strings.Contains(err.Error(), "shards.json") {
		t.Errorf("damaged record: %v", err)
	}
}
