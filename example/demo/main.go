// Command demo shows mongo-sync at work on this machine alone: it starts two
// testmongod servers, preloads the source, runs `mongo-sync sync` (initial
// copy, then live sync) while a load writes inserts, updates and deletes
// and a hostile workload (internal/workload) changes field types under
// dotted paths, re-inserts unique keys under other _ids, grows and shrinks
// arrays and stores one numeric _id as int32, int64 and double. While the
// writes go on it runs `mongo-sync verify --live` and shows /status; then it
// stops the writes and ends as a migration does: `mongo-sync cutover
// --verify full`, which waits until the destination holds everything the
// source wrote and verifies it. It prints the spool and stops everything.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/workload"
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

	ctx := context.Background()
	sc, err := mongo.Connect(options.Client().ApplyURI(src.uri))
	if err != nil {
		return err
	}
	fmt.Println("preloading the source: shop.orders (8,000 documents), shop.customers (with indexes), crm.contacts ...")
	if err := preload(ctx, sc); err != nil {
		return err
	}
	fmt.Println("preloading the hostile workload: hostile.docs, hostile.accounts (unique email), hostile.lists, hostile.nums ...")
	hostile := workload.New(sc, workload.Options{Seed: 1})
	if err := hostile.Preload(ctx); err != nil {
		return err
	}

	statusAddr, err := freeAddr()
	if err != nil {
		return err
	}
	conf := filepath.Join(dataDir, "demo.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`# written by the demo
[src]
uri = %q
[dst]
uri = %q
[sync]
dbs = [ { db = "shop" }, { db = "crm", rename_db = "crm_copy" }, { db = "hostile" } ]
[spool]
dir = %q
seal_interval = "200ms"
[store]
path = %q
[copy]
split_docs = 2000
[applier]
bulk_size = 20    # the test server deadlocks once workers × bulk_size update statements reach 100
workers = 4
log_interval = "2s"
[reader]
log_interval = "2s"
progress_interval = "1s"
[http]
listen = %q
`, src.uri, dst.uri, filepath.Join(dataDir, "spool"), filepath.Join(dataDir, "state.db"), statusAddr)), 0o600)

	syncCmd := exec.Command("bin/mongo-sync", "sync", "-f", conf)
	syncCmd.Stdout, syncCmd.Stderr = os.Stdout, os.Stderr
	if err := syncCmd.Start(); err != nil {
		return fmt.Errorf("start mongo-sync (run `make build` first): %w", err)
	}
	defer stop(syncCmd)
	fmt.Println("$ mongo-sync sync -f demo-data/demo.toml   (copy, then live sync; writes go on meanwhile)")

	stopLoad := make(chan struct{})
	loadDone := make(chan int)
	go func() { loadDone <- load(ctx, sc, stopLoad) }()
	stopHostile := hostile.Start(ctx)
	started := time.Now()
	statusURL := "http://" + statusAddr + "/status"
	if err := waitConsistent(statusURL, 120*time.Second); err != nil {
		return err
	}
	fmt.Println("\n$ mongo-sync verify --live -f demo-data/demo.toml   (while the writes go on)")
	out, err := exec.Command("bin/mongo-sync", "verify", "--live", "-f", conf).CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return fmt.Errorf("verify --live: %w", err)
	}
	if d := 12*time.Second - time.Since(started); d > 0 {
		time.Sleep(d)
	}
	fmt.Printf("\n$ curl %s   (excerpt)\n", statusURL)
	if err := showStatus(statusURL); err != nil {
		return err
	}
	close(stopLoad)
	fmt.Printf("\nload stopped after %d writes; hostile workload: %s\n", <-loadDone, stopHostile())

	fmt.Println("\n$ mongo-sync cutover --verify full -f demo-data/demo.toml")
	cut := exec.Command("bin/mongo-sync", "cutover", "--verify", "full", "--timeout", "3m", "-f", conf)
	cut.Stdout, cut.Stderr = os.Stdout, os.Stderr
	if err := cut.Run(); err != nil {
		return fmt.Errorf("cutover: %w", err)
	}
	stat := exec.Command("bin/mongo-sync", "spool", "stat", "-f", conf)
	stat.Stdout, stat.Stderr = os.Stdout, os.Stderr
	fmt.Println("\n$ mongo-sync spool stat -f demo-data/demo.toml")
	stat.Run()
	return nil
}

// freeAddr is a loopback address nothing listens on now, for http.listen.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// readStatus reads the running sync's /status.
func readStatus(url string) (map[string]any, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st map[string]any
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitConsistent waits until /status says the destination is consistent.
func waitConsistent(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if st, err := readStatus(url); err == nil && st["consistent"] == true {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the destination is not consistent after %s (see the log above)", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// showStatus prints the /status fields a migration watches.
func showStatus(url string) error {
	st, err := readStatus(url)
	if err != nil {
		return err
	}
	for _, k := range []string{"stage", "consistent", "can_cutover", "applied_through", "lag_ms", "lag_entries", "applied_total"} {
		fmt.Printf("  %-16s %v\n", k+":", st[k])
	}
	return nil
}

// preload fills the source before the sync starts.
func preload(ctx context.Context, c *mongo.Client) error {
	rng := rand.New(rand.NewPCG(1, 2))
	var docs []any
	for i := 0; i < 8000; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "item", Value: fmt.Sprintf("sku-%03d", rng.IntN(500))},
			{Key: "qty", Value: rng.IntN(10) + 1}, {Key: "status", Value: "new"}})
	}
	orders := c.Database("shop").Collection("orders")
	for len(docs) > 0 {
		n := min(1000, len(docs))
		if _, err := orders.InsertMany(ctx, docs[:n]); err != nil {
			return err
		}
		docs = docs[n:]
	}
	customers := c.Database("shop").Collection("customers")
	if _, err := customers.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "city", Value: 1}, {Key: "since", Value: -1}}},
	}); err != nil {
		return err
	}
	for i := 0; i < 200; i++ {
		customers.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("c%03d", i)}, {Key: "email", Value: fmt.Sprintf("c%d@example.org", i)},
			{Key: "city", Value: []string{"Oslo", "Lima", "Pune"}[i%3]}, {Key: "since", Value: 2000 + i%25}})
	}
	for i := 0; i < 100; i++ {
		c.Database("crm").Collection("contacts").InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: fmt.Sprint("contact ", i)}})
	}
	return nil
}

// load writes inserts, updates and deletes until stop closes.
func load(ctx context.Context, c *mongo.Client, stop <-chan struct{}) int {
	rng := rand.New(rand.NewPCG(3, 4))
	orders := c.Database("shop").Collection("orders")
	contacts := c.Database("crm").Collection("contacts")
	for i := 0; ; i++ {
		select {
		case <-stop:
			return i
		default:
		}
		id := rng.IntN(8000)
		switch rng.IntN(4) {
		case 0:
			orders.InsertOne(ctx, bson.D{{Key: "_id", Value: 100000 + i}, {Key: "item", Value: "sku-new"}, {Key: "qty", Value: 1}, {Key: "status", Value: "new"}})
		case 1:
			orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "paid"}}}, {Key: "$inc", Value: bson.D{{Key: "qty", Value: 1}}}})
		case 2:
			orders.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		default:
			contacts.UpdateOne(ctx, bson.D{{Key: "_id", Value: rng.IntN(100)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seen", Value: i}}}})
		}
	}
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
