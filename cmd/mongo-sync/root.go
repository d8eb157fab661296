package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// common holds the flags every command that reads the config shares.
type common struct {
	configFile string
	spoolDir   string
	storePath  string
	logfile    string
	logLevel   string
	shard      string
}

func (c *common) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&c.configFile, "config", "f", "", "configuration file (TOML)")
	f.StringVar(&c.spoolDir, "spool-dir", "", "spool directory (overrides spool.dir)")
	f.StringVar(&c.storePath, "store", "", "state file (overrides store.path)")
	f.StringVar(&c.logfile, "logfile", "", "log file (overrides log.filepath; default stderr)")
	f.StringVar(&c.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")
	f.StringVar(&c.shard, "shard", "", "one shard of a sharded source (src.shards): its own source, spool directory and state file")
}

// load reads the config file (if any), applies the shared flags and
// validates. mod applies command-specific flags before validation. It is
// the whole source's configuration: forShard narrows it to --shard's.
func (c *common) load(mod func(*config.Config) error) (*config.Config, error) {
	cfg := &config.Config{}
	if c.configFile != "" {
		var err error
		if cfg, err = config.Load(c.configFile); err != nil {
			return nil, err
		}
	}
	if c.spoolDir != "" {
		cfg.Spool.Dir = c.spoolDir
	}
	if c.storePath != "" {
		cfg.Store.Path = c.storePath
	}
	if c.logfile != "" {
		cfg.Log.Filepath = c.logfile
	}
	if c.logLevel != "" {
		cfg.Log.Level = c.logLevel
	}
	if mod != nil {
		if err := mod(cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.Finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// forShard is cfg narrowed to the shard --shard names (cfg itself without
// it). Finding the shard may ask the source's mongos: within ctx, logging
// to log.
func (c *common) forShard(ctx context.Context, cfg *config.Config, log logrus.FieldLogger) (*config.Config, error) {
	if c.shard == "" {
		return cfg, nil
	}
	return sharding.ShardConfig(ctx, cfg, c.shard, log)
}

// loadReadOnly is load and forShard for the commands that write nothing
// (status, check, spool stat and dump): their log goes to stderr at the
// configured level, as a log file would be a write.
func (c *common) loadReadOnly(ctx context.Context) (*config.Config, error) {
	cfg, err := c.load(nil)
	if err != nil {
		return nil, err
	}
	log, err := stderrLogger(cfg)
	if err != nil {
		return nil, err
	}
	return c.forShard(ctx, cfg, log)
}

// stageFunc runs one stage until ctx ends, reporting to rec.
type stageFunc func(ctx context.Context, cfg *config.Config, rec *status.Recorder, log logrus.FieldLogger) error

// run loads the configuration (mod applies the command's own flags), sets
// up logging, /status and /metrics (http.listen), and runs stage as
// component. SIGINT/SIGTERM end ctx (see main).
func (c *common) run(ctx context.Context, mod func(*config.Config) error, component string, stage stageFunc) error {
	cfg, err := c.load(mod)
	if err != nil {
		return err
	}
	if perShard[component] && c.shard == "" {
		if shards, err := cfg.Shards(); err != nil {
			return err
		} else if len(shards) > 0 {
			return fmt.Errorf("%s: the source is sharded (%s): give --shard NAME for one shard's stage, or run sync for all of them", component, shardNames(shards))
		}
	}
	log, err := logger(cfg)
	if err != nil {
		return err
	}
	if cfg, err = c.forShard(ctx, cfg, log); err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		log.WithField("component", "config").Warn(w)
	}
	rec := status.New(component)
	rec.SetIdentity(status.Identity{Command: component, Shard: c.shard, Source: sourceIdentity(cfg),
		Destination: cfg.DstMongo().Redacted(), Config: c.configFile, Version: version, PID: os.Getpid()})
	if cfg.HTTP.Listen != "" {
		if _, err := status.Serve(ctx, cfg.HTTP.ListenAddr(), rec, log.WithField("component", "http")); err != nil {
			return err
		}
	}
	ctx = retry.WithObserver(ctx, rec)
	if c.shard != "" && component == "applier" {
		log.WithField("shard", c.shard).Warn("a separate applier per shard does not order DDL across shards (drop, rename, dropDatabase, index builds): " +
			"run sync, which runs every shard's applier in one process, where a source runs DDL during the sync")
	}
	err = stage(ctx, cfg, rec, log.WithField("component", component))
	rec.Fatal(err)
	return err
}

// perShard are the commands that run one stage of one source: with a
// sharded source they need --shard.
var perShard = map[string]bool{"reader": true, "applier": true, "copy": true}

// logger builds the process logger from the config.
func logger(cfg *config.Config) (*logrus.Logger, error) {
	l, err := stderrLogger(cfg)
	if err != nil {
		return nil, err
	}
	var out io.Writer = os.Stderr
	if cfg.Log.Filepath != "" {
		f, err := os.OpenFile(cfg.Log.Filepath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		out = f
	}
	l.SetOutput(out)
	return l, nil
}

// stderrLogger is the process logger at the configured level, on stderr
// whatever log.filepath says.
func stderrLogger(cfg *config.Config) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	lvl, err := logrus.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	l.SetLevel(lvl)
	l.SetOutput(os.Stderr)
	return l, nil
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "mongo-sync",
		Short:         "Realtime MongoDB-to-MongoDB sync through a durable oplog spool",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newSyncCmd(), newReaderCmd(), newCopyCmd(), newApplierCmd(), newVerifyCmd(), newCutoverCmd(), newStatusCmd(), newSpoolCmd(), newCheckCmd(), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "mongo-sync", version)
		},
	}
}

// sourceIdentity names the source in /status: its URI without password, or
// its shards where only they are listed.
func sourceIdentity(cfg *config.Config) string {
	if !cfg.Src.Empty() {
		return cfg.Src.Redacted()
	}
	if shards, err := cfg.Shards(); err == nil && len(shards) > 0 {
		return "shards " + shardNames(shards)
	}
	return ""
}
