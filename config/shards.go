package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// Shard is one shard of a sharded source: a replica set with its own oplog.
type Shard struct {
	// Name names the shard's spool directory, state file, log lines and
	// /status entry: the replica set name where the entry gives one, else
	// the first host.
	Name  string
	Mongo Mongo
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// ParseShard reads one shard entry: a mongodb:// URI, or hosts as
// py-mongo-sync wrote them ("h:p,h2:p", "rs/h1:p,h2:p") with creds' user,
// password and authdb. listShards' host strings ("rs/h1:p,h2:p") parse the
// same way; name, if not empty, is the shard's name (listShards' _id).
func ParseShard(entry, name string, creds Mongo) (Shard, error) {
	entry = strings.TrimSpace(entry)
	var m Mongo
	if strings.HasPrefix(entry, "mongodb://") || strings.HasPrefix(entry, "mongodb+srv://") {
		m = Mongo{URI: entry}
	} else {
		m = Mongo{Hosts: entry, AuthDB: creds.AuthDB, Username: creds.Username, Password: creds.Password}
	}
	cs, err := connstring.ParseAndValidate(m.ConnString())
	if err != nil {
		return Shard{}, fmt.Errorf("%s: %s", RedactURI(m.ConnString()), redactErr(err, m.Password))
	}
	if name == "" {
		name = cs.ReplicaSet
	}
	if name == "" && len(cs.Hosts) > 0 {
		name = cs.Hosts[0]
	}
	name = unsafeName.ReplaceAllString(name, "_")
	if name == "" || name == "." || name == ".." {
		return Shard{}, fmt.Errorf("%s: no name to give the shard", RedactURI(m.ConnString()))
	}
	return Shard{Name: name, Mongo: m}, nil
}

// Shards returns the shards src.shards lists, nil for a replica set
// source. A mongos source without src.shards is asked for its shards at
// start (see the sharded runner); this is the static list.
func (c *Config) Shards() ([]Shard, error) {
	var out []Shard
	seen := map[string]string{}
	for i, e := range c.Src.Shards {
		s, err := ParseShard(e, "", c.Src)
		if err != nil {
			return nil, c.errorf(fmt.Sprintf("src.shards[%d]", i), "%s", err.Error())
		}
		if prev, dup := seen[s.Name]; dup {
			return nil, c.errorf(fmt.Sprintf("src.shards[%d]", i), "%s is named %q like %s: give each shard its own replica set name or host", RedactURI(s.Mongo.ConnString()), s.Name, prev)
		}
		seen[s.Name] = RedactURI(s.Mongo.ConnString())
		out = append(out, s)
	}
	return out, nil
}

func (c *Config) validateShards() error {
	if len(c.Src.Shards) == 0 {
		return nil
	}
	if c.Src.URI == "" && c.Src.Hosts == "" && c.Src.Password != "" && c.Src.Username == "" {
		return c.errorf("src.password", "password given without username")
	}
	_, err := c.Shards()
	return err
}

// ForShard is the configuration of one shard's stages: the shard as the
// source, and its own spool directory (spool.dir/<name>) and state file
// (beside store.path, named <base>.<name><ext>). It serves no /status of
// its own: the sharded runner serves one for every shard.
func (c *Config) ForShard(s Shard) *Config {
	out := *c
	out.Src = s.Mongo
	out.Spool.Dir = filepath.Join(c.Spool.Dir, s.Name)
	out.Store.Path = ShardStorePath(c.Store.Path, s.Name)
	out.HTTP.Listen = ""
	return &out
}

// ShardStorePath is the state file of shard name beside path.
func ShardStorePath(path, name string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + name + ext
}
