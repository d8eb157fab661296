// Package config loads mongo-sync's TOML configuration. py-mongo-sync's keys
// stay valid; every other section is mongo-sync's own. Load decodes, fills
// defaults and validates; the resulting struct is passed down, never global.
package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration.
type Config struct {
	Src     Mongo   `toml:"src"`
	Dst     Dest    `toml:"dst"`
	Sync    Sync    `toml:"sync"`
	Log     Log     `toml:"log"`
	Spool   Spool   `toml:"spool"`
	Store   Store   `toml:"store"`
	Reader  Reader  `toml:"reader"`
	Applier Applier `toml:"applier"`
	Copy    Copy    `toml:"copy"`
	HTTP    HTTP    `toml:"http"`

	file     string   // where it was loaded from, for error messages
	warnings []string // what Load ignored; see Warnings
	shard    string   // the shard ForShard made this for; see Shard
}

// Mongo is a deployment to connect to: a URI, or py-mongo-sync's hosts and
// credentials.
type Mongo struct {
	URI      string `toml:"uri"`
	Hosts    string `toml:"hosts"`
	AuthDB   string `toml:"authdb"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// Shards (src only) lists a sharded source's shards, each a URI or
	// hosts ("h:p", "rs/h1:p,h2:p"; [src]'s credentials apply): see
	// Config.Shards.
	Shards []string `toml:"shards"`
}

// Dest is the destination. py-mongo-sync wrote its keys either directly
// under [dst] or under [dst.mongo] with type = "mongo".
type Dest struct {
	Mongo
	Type  string `toml:"type"`
	Inner *Mongo `toml:"mongo"`
}

// Sync selects what is synced and where incremental sync starts.
type Sync struct {
	DBs          []DB    `toml:"dbs"`
	StartOptime  *Optime `toml:"start_optime"`
	DropExisting bool    `toml:"drop_existing"`
	// ShardCollections gives a mongos destination the source's shard keys
	// (enableSharding, shardCollection) before the copy.
	ShardCollections bool `toml:"shard_collections"`
}

// DB selects a database, optionally renamed and restricted to collections.
type DB struct {
	DB       string `toml:"db"`
	RenameDB string `toml:"rename_db"`
	Colls    []Coll `toml:"colls"`
}

// Log configures logging.
type Log struct {
	Filepath string `toml:"filepath"`
	Level    string `toml:"level"`
}

// Spool configures the durable queue between reader and applier.
type Spool struct {
	Dir             string   `toml:"dir"`
	SegmentMaxBytes ByteSize `toml:"segment_max_bytes"`
	SealInterval    Duration `toml:"seal_interval"`
	MaxBytes        ByteSize `toml:"max_bytes"`
	Retention       Duration `toml:"retention"`
}

// Store configures the applier's state file (checkpoint, copy progress).
type Store struct {
	Path string `toml:"path"`
}

// Reader configures the oplog reader.
type Reader struct {
	BatchSize        int      `toml:"batch_size"`
	BatchInterval    Duration `toml:"batch_interval"`
	LogInterval      Duration `toml:"log_interval"`
	ProgressInterval Duration `toml:"progress_interval"`
}

// Applier configures the oplog applier.
type Applier struct {
	Workers     int      `toml:"workers"`
	BulkSize    int      `toml:"bulk_size"`
	BatchOps    int      `toml:"batch_ops"`
	BatchBytes  ByteSize `toml:"batch_bytes"`
	LogInterval Duration `toml:"log_interval"`
	// RoutingRetry is how long a mongos routing error (StaleConfig,
	// StaleEpoch, StaleDbVersion, ...) is retried before the applier stops.
	RoutingRetry Duration `toml:"routing_retry"`
}

// HTTP configures the /status and /metrics endpoint.
type HTTP struct {
	// Listen is host:port; empty: no endpoint. Without a host it binds
	// 127.0.0.1; "0.0.0.0:9090" exposes it on every interface.
	Listen string `toml:"listen"`
}

// ListenAddr is Listen with the loopback default host.
func (h HTTP) ListenAddr() string {
	if strings.HasPrefix(h.Listen, ":") {
		return "127.0.0.1" + h.Listen
	}
	return h.Listen
}

// Copy configures the initial copy.
type Copy struct {
	Workers   int   `toml:"workers"`
	BatchDocs int   `toml:"batch_docs"`
	SplitDocs int64 `toml:"split_docs"`
	// Split: "auto" splits where the source's planner runs an _id range
	// query as an index scan; "always" splits regardless (tests on a server
	// without one).
	Split string `toml:"split"`
}

// Default returns the configuration with every default filled in.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Log.Level, "info")
	def(&c.Spool.Dir, "mongo-sync-data/spool")
	def(&c.Store.Path, "mongo-sync-data/state.db")
	if c.Spool.SegmentMaxBytes == 0 {
		c.Spool.SegmentMaxBytes = 64 << 20
	}
	if c.Spool.SealInterval == 0 {
		c.Spool.SealInterval = Duration(time.Second)
	}
	defInt(&c.Reader.BatchSize, 1000)
	if c.Reader.BatchInterval == 0 {
		c.Reader.BatchInterval = Duration(100 * time.Millisecond)
	}
	if c.Reader.LogInterval == 0 {
		c.Reader.LogInterval = Duration(10 * time.Second)
	}
	if c.Reader.ProgressInterval == 0 {
		c.Reader.ProgressInterval = Duration(10 * time.Second)
	}
	defInt(&c.Copy.Workers, 4)
	defInt(&c.Copy.BatchDocs, 1000)
	def(&c.Copy.Split, "auto")
	if c.Copy.SplitDocs == 0 {
		c.Copy.SplitDocs = 100_000
	}
	defInt(&c.Applier.Workers, 8)
	defInt(&c.Applier.BulkSize, 500)
	defInt(&c.Applier.BatchOps, 10000)
	if c.Applier.BatchBytes == 0 {
		c.Applier.BatchBytes = 16 << 20
	}
	if c.Applier.LogInterval == 0 {
		c.Applier.LogInterval = Duration(10 * time.Second)
	}
	if c.Applier.RoutingRetry == 0 {
		c.Applier.RoutingRetry = Duration(5 * time.Minute)
	}
}

// Load reads, defaults and validates the TOML file at path.
func Load(path string) (*Config, error) {
	c := &Config{file: path}
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		// py-mongo-sync's Elasticsearch files give dst.hosts as an array,
		// which fails to decode; the type is what is wrong, so name it.
		if t := dstType(path); t != "" && t != "mongo" {
			return nil, c.errorf("dst.type", "%q is not supported (only \"mongo\")", t)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if t := c.Dst.Type; t != "" && t != "mongo" {
		// Before unknown keys: an Elasticsearch file's [dst.es] is not the
		// problem, its type is.
		return nil, c.errorf("dst.type", "%q is not supported (only \"mongo\")", t)
	}
	var keys []string
	ignoredES := false
	for _, k := range md.Undecoded() {
		// py-mongo-sync's example files carry a [dst.es] table beside
		// type = "mongo"; it selects nothing here, so it is ignored.
		if len(k) >= 2 && k[0] == "dst" && k[1] == "es" {
			ignoredES = true
			continue
		}
		keys = append(keys, k.String())
	}
	if len(keys) > 0 {
		return nil, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	if ignoredES {
		c.warnings = append(c.warnings, fmt.Sprintf("config %s: [dst.es] ignored: the destination is MongoDB (dst.type = \"mongo\"); Elasticsearch is not supported", path))
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// File is the path the configuration came from ("" for flags only).
func (c *Config) File() string { return c.file }

// Warnings are what Load accepted but ignored, for the caller to log once
// logging is set up.
func (c *Config) Warnings() []string { return c.warnings }

// dstType is dst.type of the TOML file at path, read on its own so that it
// can be named even when the rest of the file does not decode.
func dstType(path string) string {
	var probe struct {
		Dst struct {
			Type string `toml:"type"`
		} `toml:"dst"`
	}
	if _, err := toml.DecodeFile(path, &probe); err != nil {
		return ""
	}
	return probe.Dst.Type
}

// Finish fills defaults and validates a configuration built in code or
// changed by flags after Load.
func (c *Config) Finish() error {
	c.setDefaults()
	return c.Validate()
}

// errorf names the file (when there is one) and the key.
func (c *Config) errorf(key, format string, args ...any) error {
	where := "config"
	if c.file != "" {
		where = "config " + c.file
	}
	return fmt.Errorf("%s: %s: %s", where, key, fmt.Sprintf(format, args...))
}

// Validate checks values that decode fine but cannot work.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.validateMongo("src", c.Src))
	add(c.validateShards())
	switch c.Dst.Type {
	case "", "mongo":
	default:
		add(c.errorf("dst.type", "%q is not supported (only \"mongo\")", c.Dst.Type))
	}
	if c.Dst.Inner != nil && !c.Dst.Mongo.zero() {
		add(c.errorf("dst", "set the destination either in [dst] or in [dst.mongo], not both"))
	}
	add(c.validateMongo("dst", c.DstMongo()))
	add(c.validateDBs())
	if c.HTTP.Listen != "" {
		if _, port, err := net.SplitHostPort(c.HTTP.ListenAddr()); err != nil || port == "" {
			add(c.errorf("http.listen", "%q is not host:port", c.HTTP.Listen))
		}
	}
	if c.Sync.StartOptime != nil && c.Sync.StartOptime.T == 0 {
		add(c.errorf("sync.start_optime", "must be a positive time"))
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "warning", "error":
	default:
		add(c.errorf("log.level", "%q is not one of debug, info, warn, error", c.Log.Level))
	}
	positive := func(key string, v int) {
		if v < 1 {
			add(c.errorf(key, "must be at least 1, got %d", v))
		}
	}
	positive("reader.batch_size", c.Reader.BatchSize)
	positive("applier.workers", c.Applier.Workers)
	positive("applier.bulk_size", c.Applier.BulkSize)
	positive("applier.batch_ops", c.Applier.BatchOps)
	if c.Applier.RoutingRetry < 0 {
		add(c.errorf("applier.routing_retry", "must not be negative, got %s", c.Applier.RoutingRetry))
	}
	positive("copy.workers", c.Copy.Workers)
	positive("copy.batch_docs", c.Copy.BatchDocs)
	if c.Copy.SplitDocs < 1 {
		add(c.errorf("copy.split_docs", "must be at least 1, got %d", c.Copy.SplitDocs))
	}
	if c.Copy.Split != "auto" && c.Copy.Split != "always" {
		add(c.errorf("copy.split", `must be "auto" or "always", got %q`, c.Copy.Split))
	}
	// One write command takes at most 100,000 statements (the server's
	// maxWriteBatchSize); the applier and the copier send one per batch.
	for key, v := range map[string]int{"applier.bulk_size": c.Applier.BulkSize, "copy.batch_docs": c.Copy.BatchDocs} {
		if v > maxWriteBatch {
			add(c.errorf(key, "%d is more than %d, the statements one write command takes", v, maxWriteBatch))
		}
	}
	if c.Applier.Workers > 1024 {
		add(c.errorf("applier.workers", "%d is more than 1024", c.Applier.Workers))
	}
	if c.Spool.SegmentMaxBytes < 64<<10 {
		add(c.errorf("spool.segment_max_bytes", "must be at least 64KiB, got %s", c.Spool.SegmentMaxBytes))
	}
	if c.Spool.MaxBytes != 0 && c.Spool.MaxBytes < 2*c.Spool.SegmentMaxBytes {
		add(c.errorf("spool.max_bytes", "%s must be 0 (no cap) or at least twice spool.segment_max_bytes (%s)", c.Spool.MaxBytes, c.Spool.SegmentMaxBytes))
	}
	for key, d := range map[string]Duration{"spool.seal_interval": c.Spool.SealInterval, "spool.retention": c.Spool.Retention,
		"reader.batch_interval": c.Reader.BatchInterval, "reader.progress_interval": c.Reader.ProgressInterval, "reader.log_interval": c.Reader.LogInterval, "applier.log_interval": c.Applier.LogInterval} {
		if d < 0 {
			add(c.errorf(key, "must not be negative"))
		}
	}
	return errors.Join(errs...)
}

// maxWriteBatch is MongoDB's maxWriteBatchSize.
const maxWriteBatch = 100_000

// DstMongo is the destination's connection, wherever the file put it.
func (c *Config) DstMongo() Mongo {
	if c.Dst.Inner != nil {
		return *c.Dst.Inner
	}
	return c.Dst.Mongo
}

// SetDstMongo replaces the destination's connection.
func (c *Config) SetDstMongo(m Mongo) {
	if c.Dst.Inner != nil {
		*c.Dst.Inner = m
		return
	}
	c.Dst.Mongo = m
}
