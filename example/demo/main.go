// Command demo shows mongo-sync at work on this machine alone: it starts two
// testmongod servers, runs `mongo-sync sync` between them, writes inserts,
// updates and deletes to the source, waits until the destination holds the
// same documents, prints the spool, and stops everything.
package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const dataDir = "demo-data"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	os.RemoveAll(dataDir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	src, err := startServer("src")
	if err != nil {
		return err
	}
	defer stop(src.cmd)
	dst, err := startServer("dst")
	if err != nil {
		return err
	}
	defer stop(dst.cmd)
	fmt.Printf("source      %s\ndestination %s\n", src.uri, dst.uri)

	conf := filepath.Join(dataDir, "demo.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`# written by the demo
[src]
uri = %q
[dst]
uri = %q
[sync]
dbs = [ { db = "shop", rename_db = "shop_copy" } ]
[spool]
dir = %q
seal_interval = "200ms"
[store]
path = %q
[applier]
bulk_size = 50    # the test server deadlocks on large update commands
log_interval = "2s"
[reader]
log_interval = "2s"
`, src.uri, dst.uri, filepath.Join(dataDir, "spool"), filepath.Join(dataDir, "state.db"))), 0o600)

	start := time.Now().Unix() - 1
	syncCmd := exec.Command("bin/mongo-sync", "sync", "-f", conf, "--start-optime", fmt.Sprint(start))
	syncCmd.Stdout, syncCmd.Stderr = os.Stdout, os.Stderr
	if err := syncCmd.Start(); err != nil {
		return fmt.Errorf("start mongo-sync (run `make build` first): %w", err)
	}
	defer stop(syncCmd)
	fmt.Println("mongo-sync sync running; writing to shop.orders on the source ...")

	ctx := context.Background()
	sc, err := mongo.Connect(options.Client().ApplyURI(src.uri))
	if err != nil {
		return err
	}
	dc, err := mongo.Connect(options.Client().ApplyURI(dst.uri))
	if err != nil {
		return err
	}
	orders := sc.Database("shop").Collection("orders")
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 300
	for i := 0; i < n; i++ {
		orders.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "item", Value: fmt.Sprintf("sku-%03d", rng.IntN(50))},
			{Key: "qty", Value: rng.IntN(10) + 1}, {Key: "status", Value: "new"}})
		if i%3 == 0 && i > 0 {
			orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: rng.IntN(i)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "paid"}}}, {Key: "$inc", Value: bson.D{{Key: "qty", Value: 1}}}})
		}
		if i%10 == 0 && i > 0 {
			orders.DeleteOne(ctx, bson.D{{Key: "_id", Value: rng.IntN(i)}})
		}
		if i%100 == 99 {
			fmt.Printf("  wrote %d inserts (plus updates and deletes)\n", i+1)
		}
	}
	fmt.Println("load stopped; waiting for the destination (shop_copy.orders) to match ...")
	deadline := time.Now().Add(90 * time.Second)
	for {
		a, errA := all(ctx, orders)
		b, errB := all(ctx, dc.Database("shop_copy").Collection("orders"))
		if errA == nil && errB == nil && reflect.DeepEqual(a, b) {
			fmt.Printf("IN SYNC: %d documents identical on source and destination\n", len(a))
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("destination did not match the source within 90s (source %d docs, destination %d)", len(a), len(b))
		}
		time.Sleep(300 * time.Millisecond)
	}
	stat := exec.Command("bin/mongo-sync", "spool", "stat", "-f", conf)
	stat.Stdout, stat.Stderr = os.Stdout, os.Stderr
	fmt.Println("\n$ mongo-sync spool stat")
	stat.Run()
	return nil
}

func all(ctx context.Context, c *mongo.Collection) ([]string, error) {
	cur, err := c.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var out []string
	for cur.Next(ctx) {
		out = append(out, cur.Current.String())
	}
	return out, cur.Err()
}

type server struct {
	cmd *exec.Cmd
	uri string
}

func startServer(name string) (*server, error) {
	cmd := exec.Command("bin/testmongod", "-data", filepath.Join(dataDir, name))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start testmongod (run `make testmongod` first): %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("testmongod %s did not start: %w", name, err)
	}
	return &server{cmd: cmd, uri: strings.TrimSpace(strings.TrimPrefix(line, "listening "))}, nil
}

func stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
	}
}
