// Command testmongod runs an embedded FerretDB (SQLite backend) as a MongoDB
// wire-protocol server for mongo-sync's tests and demo. It creates
// local.oplog.rs as a capped collection so that writes produce oplog entries,
// records a replica set configuration in local.system.replset (-set-name),
// and writes its first entry as replSetInitiate does on MongoDB: a no-op
// {msg: "initiating set"}. A reader tells by it that the oplog was never
// trimmed (then no start is too old); delete it to simulate a rolled-over
// oplog.
//
// It prints one line "listening <mongodb-uri>" on stdout once the server
// answers ping, then runs until SIGINT/SIGTERM.
package main

import (
	"database/sql"
	"path/filepath"

	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free port)")
	dir := flag.String("data", "", "data directory (required; created 0700 if missing)")
	oplogMax := flag.Int64("oplog-max", 1_000_000, "max entries of local.oplog.rs: a tenth above it, the oldest are removed (as mongod truncates its oplog)")
	noOplog := flag.Bool("no-oplog", false, "do not create local.oplog.rs (a source without an oplog)")
	setName := flag.String("set-name", "rs0", "the replica set name recorded in local.system.replset, with a new replicaSetId")
	verbose := flag.Bool("v", false, "log FerretDB at info level")
	flag.Parse()

	if err := run(*addr, *dir, *oplogMax, *noOplog, *setName, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "testmongod:", err)
		os.Exit(1)
	}
}

func run(addr, dir string, oplogMax int64, noOplog bool, setName string, verbose bool) error {
	if dir == "" {
		return fmt.Errorf("-data is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}

	level := slog.LevelError
	if verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dumpOnSignal()

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()

	uri := f.MongoDBURI()
	if err := prepare(ctx, uri, oplogMax, noOplog, setName); err != nil {
		stop()
		<-done
		return err
	}
	fmt.Printf("listening %s\n", uri)
	if !noOplog {
		go truncate(ctx, dir, oplogMax)
	}

	<-done
	return nil
}

// dumpOnSignal prints every goroutine's stack to stderr on SIGUSR1 and
// goes on serving: how a test finds where a server that stopped answering
// is stuck, without stopping it.
func dumpOnSignal() {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			fmt.Fprintf(os.Stderr, "testmongod pid %d: goroutines on SIGUSR1\n", os.Getpid())
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		}
	}()
}

// prepare waits until the server answers ping and creates local.oplog.rs.
func prepare(ctx context.Context, uri string, oplogMax int64, noOplog bool, setName string) error {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		return fmt.Errorf("ping %s: %w", uri, err)
	}
	if noOplog {
		return nil
	}

	names, err := client.Database("local").ListCollectionNames(pctx, bson.D{{Key: "name", Value: "oplog.rs"}})
	if err != nil {
		return fmt.Errorf("list local collections: %w", err)
	}
	if len(names) > 0 {
		return nil
	}
	// The replica set configuration document MongoDB keeps in
	// local.system.replset ({_id: name, settings: {replicaSetId}}), written
	// before the oplog exists so that no entry records it: each server is
	// a deployment of its own that mongo-sync can tell apart from another
	// of the same name.
	replset := bson.D{{Key: "_id", Value: setName}, {Key: "version", Value: int32(1)},
		{Key: "settings", Value: bson.D{{Key: "replicaSetId", Value: bson.NewObjectID()}}}}
	if _, err := client.Database("local").Collection("system.replset").InsertOne(pctx, replset); err != nil {
		return fmt.Errorf("write local.system.replset: %w", err)
	}
	opts := options.CreateCollection().SetCapped(true).SetSizeInBytes(1 << 30).SetMaxDocuments(oplogMax)
	if err := client.Database("local").CreateCollection(pctx, "oplog.rs", opts); err != nil {
		return fmt.Errorf("create local.oplog.rs: %w", err)
	}
	// I is 0: FerretDB numbers its own entries from 1, so this one stays the
	// oldest even within the same second.
	now := time.Now()
	initiate := bson.D{
		{Key: "op", Value: "n"}, {Key: "ns", Value: ""},
		{Key: "o", Value: bson.D{{Key: "msg", Value: "initiating set"}}},
		{Key: "ts", Value: bson.Timestamp{T: uint32(now.Unix())}},
		{Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)},
		{Key: "wall", Value: bson.NewDateTimeFromTime(now)},
	}
	if _, err := client.Database("local").Collection("oplog.rs").InsertOne(pctx, initiate); err != nil {
		return fmt.Errorf("write the first oplog entry: %w", err)
	}
	return nil
}

// truncate keeps local.oplog.rs near max entries, as mongod keeps its
// oplog near its configured size: every few seconds, once it holds a tenth
// more, its oldest entries down to max are removed. The embedded FerretDB
// never trims a capped collection itself, and a delete through the wire
// protocol is logged in the oplog in turn, so the rows go straight from
// FerretDB's SQLite table, in the order of its record ids (the order of
// insertion). Every oplog query on the test server scans the whole
// collection: one that serves many tests in a row (make test-real) stays
// as quick as a fresh one only when trimmed.
func truncate(ctx context.Context, dir string, max int64) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "local.sqlite")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testmongod: oplog truncation off:", err)
		return
	}
	defer db.Close()
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = 'oplog.rs'`).Scan(&table); err != nil {
		fmt.Fprintln(os.Stderr, "testmongod: oplog truncation off: local.oplog.rs's table:", err)
		return
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var n int64
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %q`, table)).Scan(&n); err != nil || n <= max+max/10 {
			continue
		}
		q := fmt.Sprintf(`DELETE FROM %[1]q WHERE _ferretdb_record_id IN (SELECT _ferretdb_record_id FROM %[1]q ORDER BY _ferretdb_record_id LIMIT ?)`, table)
		if _, err := db.ExecContext(ctx, q, n-max); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "testmongod: truncate local.oplog.rs:", err)
		}
	}
}
