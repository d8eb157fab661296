// Command demo shows mongo-sync at work on this machine alone: it starts two
// testmongod servers, preloads the source (the bulk with ObjectID _ids, as
// applications write them), runs the read-only preflight `mongo-sync check`,
// then `mongo-sync sync` (initial copy, then live sync) while a load writes
// inserts, updates and deletes and a hostile workload (internal/workload)
// changes field types under dotted paths, re-inserts unique keys under other
// _ids, grows and shrinks arrays and stores one numeric _id as int32, int64
// and double. While the writes go on it runs `mongo-sync verify --live`,
// times probe writes from the source to the destination (with the test
// server's own floor measured beside them) and shows /status; then it stops
// the writes and ends as a migration does: `mongo-sync cutover --verify
// full`, which waits until the destination holds everything the source
// wrote and verifies it. It prints the spool and the measured lag.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
	begin := time.Now()
	defer func() { fmt.Printf("\ndemo done in %s\n", time.Since(begin).Round(time.Second)) }()
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
	ids, err := preload(ctx, sc)
	if err != nil {
		return err
	}
	fmt.Println("preloading the hostile workload: hostile.docs, hostile.accounts (unique email), hostile.lists, hostile.nums ...")
	hostile := workload.New(sc, workload.Options{Seed: 1, Rate: hostileRate})
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

	fmt.Println("\n$ mongo-sync check -f demo-data/demo.toml   (read-only preflight)")
	check := exec.Command("bin/mongo-sync", "check", "-f", conf)
	check.Stdout, check.Stderr = os.Stdout, os.Stderr
	if err := check.Run(); err != nil {
		return fmt.Errorf("check found a fail: %w", err)
	}

	syncCmd := exec.Command("bin/mongo-sync", "sync", "-f", conf)
	syncCmd.Stdout, syncCmd.Stderr = os.Stdout, os.Stderr
	if err := syncCmd.Start(); err != nil {
		return fmt.Errorf("start mongo-sync (run `make build` first): %w", err)
	}
	defer stop(syncCmd)
	fmt.Println("$ mongo-sync sync -f demo-data/demo.toml   (copy, then live sync; writes go on meanwhile)")

	stopLoad := make(chan struct{})
	loadDone := make(chan [2]int)
	go func() { w, r := load(ctx, sc, ids, stopLoad); loadDone <- [2]int{w, r} }()
	stopHostile := hostile.Start(ctx)
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
	dc, err := mongo.Connect(options.Client().ApplyURI(dst.uri))
	if err != nil {
		return err
	}
	caught := time.Now()
	if err := waitCaughtUp(statusURL, 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("\nthe applier caught up with the writes made during the copy in %s (/status lag_ms under 1 s)\n", time.Since(caught).Round(time.Second))
	fmt.Printf("\nmeasuring the lag: 20 probe writes into shop.probes, each timed until the destination holds it, under %d writes/s plus the hostile workload's %d ...\n", loadRate, hostileRate)
	lags, floors, err := probeLag(ctx, sc, dc, 20, 200*time.Millisecond)
	if err != nil {
		return fmt.Errorf("lag probe: %w", err)
	}
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	summary := fmt.Sprintf("lag, source write to destination read: p50 %s, p99 %s (%d probes, under %d + %d writes/s)\n"+
		"the test server's floor in the same run, source write to its own oplog showing it: p50 %s, p99 %s\n",
		ms(percentile(lags, 50)), ms(percentile(lags, 99)), len(lags), loadRate, hostileRate, ms(percentile(floors, 50)), ms(percentile(floors, 99)))
	fmt.Print(summary)
	defer fmt.Print("\n" + summary)
	fmt.Printf("\n$ curl %s   (excerpt)\n", statusURL)
	if err := showStatus(statusURL); err != nil {
		return err
	}
	close(stopLoad)
	lw := <-loadDone
	fmt.Printf("\nload stopped after %d writes (%d refused by the source); hostile workload: %s\n", lw[0], lw[1], stopHostile())

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

// waitCaughtUp waits until /status reports a lag under a second.
func waitCaughtUp(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if st, err := readStatus(url); err == nil {
			if lag, ok := st["lag_ms"].(float64); ok && lag < 1000 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the applier has not caught up after %s (see the log above)", d)
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

// preload fills the source before the sync starts. The bulk of it has
// ObjectID _ids, as applications write them (the test server finds those by
// index; an int _id costs it a scan of the collection per update); the
// hostile workload keeps its numeric _ids where they are the point.
func preload(ctx context.Context, c *mongo.Client) ([]bson.ObjectID, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]bson.ObjectID, 8000)
	var docs []any
	for i := range ids {
		ids[i] = bson.NewObjectID()
		docs = append(docs, bson.D{{Key: "_id", Value: ids[i]}, {Key: "item", Value: fmt.Sprintf("sku-%03d", rng.IntN(500))},
			{Key: "qty", Value: rng.IntN(10) + 1}, {Key: "status", Value: "new"}})
	}
	orders := c.Database("shop").Collection("orders")
	for len(docs) > 0 {
		n := min(1000, len(docs))
		if _, err := orders.InsertMany(ctx, docs[:n]); err != nil {
			return nil, err
		}
		docs = docs[n:]
	}
	customers := c.Database("shop").Collection("customers")
	if _, err := customers.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "city", Value: 1}, {Key: "since", Value: -1}}},
	}); err != nil {
		return nil, err
	}
	for i := 0; i < 200; i++ {
		if _, err := customers.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("c%03d", i)}, {Key: "email", Value: fmt.Sprintf("c%d@example.org", i)},
			{Key: "city", Value: []string{"Oslo", "Lima", "Pune"}[i%3]}, {Key: "since", Value: 2000 + i%25}}); err != nil {
			return nil, err
		}
	}
	for i := 0; i < 100; i++ {
		if _, err := c.Database("crm").Collection("contacts").InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("k%03d", i)}, {Key: "name", Value: fmt.Sprint("contact ", i)}}); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// loadRate and hostileRate are the two loads' writes per second: together
// well within what the test server applies (about 140 entries/s measured
// here with ObjectID _ids; at 250/s the lag grew without end, and the
// backlog the copy leaves drains at the difference).
const (
	loadRate    = 20
	hostileRate = 30
)

// load writes inserts, updates and deletes at loadRate until stop closes,
// and returns how many it wrote and how many the source refused.
func load(ctx context.Context, c *mongo.Client, ids []bson.ObjectID, stop <-chan struct{}) (writes, refused int) {
	rng := rand.New(rand.NewPCG(3, 4))
	orders := c.Database("shop").Collection("orders")
	contacts := c.Database("crm").Collection("contacts")
	tick := time.NewTicker(time.Second / loadRate)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return writes, refused
		case <-tick.C:
		}
		id := ids[rng.IntN(len(ids))]
		var err error
		switch rng.IntN(4) {
		case 0:
			_, err = orders.InsertOne(ctx, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "item", Value: "sku-new"}, {Key: "qty", Value: 1}, {Key: "status", Value: "new"}})
		case 1:
			_, err = orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "paid"}}}, {Key: "$inc", Value: bson.D{{Key: "qty", Value: 1}}}})
		case 2:
			_, err = orders.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		default:
			_, err = contacts.UpdateOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("k%03d", rng.IntN(100))}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seen", Value: writes}}}})
		}
		if err != nil {
			refused++
		} else {
			writes++
		}
	}
}

// probeLag measures how long a write takes to reach the destination: every
// interval it inserts a probe into shop.probes on the source and times
// until the destination holds it (lags), and, as the test server's own
// floor, until the source's oplog shows its entry (floors): a reader can
// see an entry no sooner.
func probeLag(ctx context.Context, src, dst *mongo.Client, n int, interval time.Duration) (lags, floors []time.Duration, err error) {
	oplog := src.Database("local").Collection("oplog.rs")
	for i := 0; i < n; i++ {
		id := bson.NewObjectID()
		t0 := time.Now()
		if _, err := src.Database("shop").Collection("probes").InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "i", Value: i}}); err != nil {
			return lags, floors, err
		}
		var floor, lag time.Duration
		for lag == 0 {
			if floor == 0 {
				err := oplog.FindOne(ctx, bson.D{{Key: "ns", Value: "shop.probes"}, {Key: "o._id", Value: id}}).Err()
				if err == nil {
					floor = time.Since(t0)
				} else if err != mongo.ErrNoDocuments {
					return lags, floors, err
				}
			}
			err := dst.Database("shop").Collection("probes").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
			if err == nil {
				lag = time.Since(t0)
			} else if err != mongo.ErrNoDocuments {
				return lags, floors, err
			}
			if time.Since(t0) > 2*time.Minute {
				return lags, floors, fmt.Errorf("probe %d not on the destination after two minutes", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if floor == 0 {
			floor = lag // seen on the destination before the oplog query saw it
		}
		lags, floors = append(lags, lag), append(floors, floor)
		time.Sleep(interval)
	}
	return lags, floors, nil
}

// percentile is the p-th percentile (0..100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(k, 0)]
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
