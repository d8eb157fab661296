package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
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

// Shards returns the shards src.shards lists, else those a mongos source
// listed when the sync began (SaveListed); nil for a replica set source.
func (c *Config) Shards() ([]Shard, error) {
	if len(c.Src.Shards) == 0 {
		return c.listedShards()
	}
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

func (c *Config) listedShards() ([]Shard, error) {
	if c.Src.Empty() || c.Spool.Dir == "" {
		return nil, nil
	}
	listed, err := c.Listed()
	if err != nil || listed == nil {
		return nil, err
	}
	out := make([]Shard, len(listed))
	seen := map[string]string{}
	for i, l := range listed {
		if out[i], err = RouterShard(c.Src, l.ID, l.Host); err != nil {
			return nil, err
		}
		if prev, dup := seen[out[i].Name]; dup {
			return nil, fmt.Errorf("the source's shards %s and %s get one name, %q, for their spool directories and state files", prev, l.ID, out[i].Name)
		}
		seen[out[i].Name] = l.ID
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
	out.shard = s.Name
	return &out
}

// Shard names the shard of a sharded source whose stages c configures
// (ForShard), or is empty when c's source is a replica set of its own. On
// a shard, writes logged with fromMigrate are a chunk migration's (or
// movePrimary's) and are left out; on a replica set of its own they are
// its own writes, applied (reader.Filter, translate.Translator ReplicaSet).
func (c *Config) Shard() string { return c.shard }

// ShardStorePath is the state file of shard name beside path.
func ShardStorePath(path, name string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + name + ext
}

// RouterShard is a shard a mongos listed (listShards' _id and host,
// "rs/h1:p,h2:p"), reached with the router's credentials and options: a
// URI router gives its user, password, auth database and options (tls,
// authSource, ...) to each shard, with the shard's hosts and replica set
// name in place of its own (a mongodb+srv router's shards get tls=true
// unless it says otherwise, as SRV implies it). The user must exist on
// each shard: a cluster's users live on its config servers, and a shard
// read directly knows only its shard-local users.
func RouterShard(router Mongo, id, host string) (Shard, error) {
	if router.URI == "" {
		return ParseShard(host, id, router)
	}
	uri, err := shardURI(router.URI, host)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %s (%s): %w", id, host, err)
	}
	if strings.HasPrefix(router.URI, "mongodb+srv://") && !strings.Contains(strings.ToLower(router.URI), "authsource=") {
		// The SRV name's TXT record may give the auth database, which a
		// plain mongodb:// URI to the shard would lose: resolve it.
		cs, err := connstring.ParseAndValidate(router.URI)
		if err != nil {
			return Shard{}, fmt.Errorf("resolve %s for its shards' options: %s", RedactURI(router.URI), redactErr(err, router.Password))
		}
		if cs.AuthSource != "" && cs.Username != "" {
			sep := "?"
			if strings.Contains(uri, "?") {
				sep = "&"
			}
			uri += sep + "authSource=" + cs.AuthSource
		}
	}
	return ParseShard(uri, id, router)
}

// routerOnly are URI options that belong to the router's connection and
// would be wrong for a replica set shard.
var routerOnly = map[string]bool{"replicaset": true, "directconnection": true, "loadbalanced": true, "srvservicename": true, "srvmaxhosts": true}

// shardURI is routerURI with host's hosts and replica set name in place of
// its own hosts and options for one server.
func shardURI(routerURI, host string) (string, error) {
	scheme, rest, ok := strings.Cut(routerURI, "://")
	if !ok {
		return "", fmt.Errorf("%s is not a mongodb:// URI", RedactURI(routerURI))
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	creds := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		creds = authority[:i+1]
	}
	set, hosts, hasSet := strings.Cut(host, "/")
	if !hasSet {
		set, hosts = "", host
	}
	path, query, _ := strings.Cut(tail, "?")
	if path == "" {
		path = "/"
	}
	var opts []string
	tlsGiven := false
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, _, _ := strings.Cut(kv, "=")
		k = strings.ToLower(k)
		if routerOnly[k] {
			continue
		}
		if k == "tls" || k == "ssl" {
			tlsGiven = true
		}
		opts = append(opts, kv)
	}
	if scheme == "mongodb+srv" && !tlsGiven {
		opts = append(opts, "tls=true")
	}
	if set != "" {
		opts = append(opts, "replicaSet="+set)
	}
	out := "mongodb://" + creds + hosts + path
	if len(opts) > 0 {
		out += "?" + strings.Join(opts, "&")
	}
	return out, nil
}

// ListedShard is one shard a mongos source listed when the sync began.
type ListedShard struct {
	ID   string `json:"_id"`
	Host string `json:"host"`
}

// listedFile records, in the spool directory, the shards a mongos source
// (src without src.shards) listed when the sync began: every later command
// (status, spool, verify, cutover, --shard) works on the same shards, and
// a sync that starts again on a cluster whose shards changed says so.
func (c *Config) listedFile() string { return filepath.Join(c.Spool.Dir, "shards.json") }

// Listed returns the shards recorded by SaveListed; nil when none were.
func (c *Config) Listed() ([]ListedShard, error) {
	_, shards, err := c.Listing()
	return shards, err
}

// Listing returns what SaveListed recorded: the cluster's id and its
// shards; nil shards when nothing was recorded.
func (c *Config) Listing() (clusterID string, shards []ListedShard, err error) {
	raw, err := os.ReadFile(c.listedFile())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	var rec listing
	if err := json.Unmarshal(raw, &rec); err != nil {
		return "", nil, fmt.Errorf("%s: %w (it records the shards the source's mongos listed when the sync began)", c.listedFile(), err)
	}
	if len(rec.Shards) == 0 {
		return "", nil, fmt.Errorf("%s lists no shards (it records the shards the source's mongos listed when the sync began)", c.listedFile())
	}
	return rec.ClusterID, rec.Shards, nil
}

type listing struct {
	Router    string        `json:"router"`
	ClusterID string        `json:"cluster_id,omitempty"`
	Shards    []ListedShard `json:"shards"`
}

// SaveListed records the shards a mongos source listed and its cluster's
// id (config.version's clusterId; "" if unknown), atomically (see
// listedFile).
func (c *Config) SaveListed(clusterID string, shards []ListedShard) error {
	raw, err := json.MarshalIndent(listing{c.Src.Redacted(), clusterID, shards}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Spool.Dir, 0o755); err != nil {
		return err
	}
	tmp := c.listedFile() + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	if f, err := os.Open(tmp); err == nil {
		f.Sync()
		f.Close()
	}
	return os.Rename(tmp, c.listedFile())
}
