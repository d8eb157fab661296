package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// BenchmarkLag measures end-to-end lag: probes are inserted on
// the source at a steady 10/s, whatever their lag (each waiting for the one
// before would slow the rate, and a longer run grows the test server's
// oplog, which it scans whole for every query), each timed until the
// document is on the destination, polled by _id every 5 ms. The source is idle, then under a 100 ops/s mixed load
// (inserts, updates, deletes). The floor is the test server's own: a bare
// tail loop (a tailable await cursor on the oplog into a channel), timed
// from the insert to its entry. sync runs in this process with the default
// settings (applier.workers and bulk_size excepted: see testsync.TestServerConns).
// Each sub-benchmark reports p50_ms and p99_ms over 100 probes per b.N.
//
// Every sub-benchmark run gets fresh servers: the test server has no ts
// index on its oplog, so each query of the oplog scans it whole (MongoDB
// seeks by ts), and an oplog grown by earlier runs would slow the later
// ones, floor and sync alike, for no reason of theirs.
func BenchmarkLag(b *testing.B) {
	for _, load := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "load100"}[load]
		b.Run("floor/"+name, func(b *testing.B) {
			src := testmongo.StartSource(b)
			sc := src.Client()
			probes := sc.Database("lag").Collection("probe")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			seen := make(chan any, 16)
			tailDone := make(chan error, 1)
			go func() { tailDone <- bareTail(ctx, sc, seen) }()
			defer func() {
				cancel()
				if err := <-tailDone; err != nil && !errors.Is(err, context.Canceled) {
					b.Error(err)
				}
			}()
			var writeMu sync.Mutex // the load's writes and the probes' (startLoad)
			stop := startLoad(b, sc, load, &writeMu)
			defer stop()
			lagProbes(b, probes, &writeMu, name+"-floor", true, func(ctx context.Context, ps *probeSet) error {
				for {
					select {
					case got := <-seen:
						ps.arrive(got.(string))
					case <-ctx.Done():
						return nil
					}
				}
			})
		})
		for _, mode := range []string{"sync", "reader+applier"} {
			b.Run(mode+"/"+name, func(b *testing.B) {
				benchLagSync(b, load, name, mode)
			})
		}
	}
}

// benchLagSync is one sync run of BenchmarkLag: mode "sync" (one process),
// or "reader+applier" (the two commands, which share nothing but the spool
// directory: the applier reads sealed segments only, as across processes).
func benchLagSync(b *testing.B, load bool, name, mode string) {
	src, dst := testmongo.StartSource(b), testmongo.StartDest(b)
	sc, dc := src.Client(), dst.Client()
	probes := sc.Database("lag").Collection("probe")
	stopSync := startSyncInProcess(b, src.URI, dst.URI, mode)
	defer stopSync()
	var writeMu sync.Mutex // the load's writes and the probes' (startLoad)
	stop := startLoad(b, sc, load, &writeMu)
	defer stop()
	out := dc.Database("lag").Collection("probe")
	lagProbes(b, probes, &writeMu, name+"-"+mode, false, func(ctx context.Context, ps *probeSet) error {
		// The oldest probe in flight is polled by _id every 5 ms (one
		// indexed read; a query for all of them would scan the collection
		// on the test server), and once it is there the next ones at once.
		// Probes arrive in the order sent (each is an entry of its own, a
		// few of them per applier batch at most), so none waits for an
		// older one that is late.
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			for _, id := range ps.pending() {
				err := out.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
				if errors.Is(err, mongo.ErrNoDocuments) {
					break
				}
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				ps.arrive(id)
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil
			}
		}
	})
}

// probeSet holds the probes in flight: when each was sent, in order, and
// the lag of each that arrived.
type probeSet struct {
	mu    sync.Mutex
	order []string
	sent  map[string]time.Time
	lags  []time.Duration
}

func (p *probeSet) send(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.order = append(p.order, id)
	p.sent[id] = at
}

// pending is the probes not arrived yet, oldest first.
func (p *probeSet) pending() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, id := range p.order {
		if _, ok := p.sent[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// arrive records id's lag, if id is a probe in flight.
func (p *probeSet) arrive(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at, ok := p.sent[id]; ok {
		p.lags = append(p.lags, time.Since(at))
		delete(p.sent, id)
	}
}

// lagProbes sends 100*b.N probe documents at a steady 10/s, whatever their
// lag, while watch reports their arrivals (ps.arrive) until its ctx ends,
// and reports the percentiles of the lags. A probe that does not arrive
// within 30 s of the last one sent fails the benchmark, unless lossy (the
// bare tail: the test server's oplog is not always in ts order under
// concurrent writers, and a bare tail may miss an entry; then it is counted
// in "lost", after 5 s). Each timed insert holds writeMu, as the load's
// writes do (startLoad).
func lagProbes(b *testing.B, probes *mongo.Collection, writeMu *sync.Mutex, prefix string, lossy bool, watch func(context.Context, *probeSet) error) {
	ctx, cancel := context.WithCancel(context.Background())
	ps := &probeSet{sent: map[string]time.Time{}}
	done := make(chan error, 1)
	go func() { done <- watch(ctx, ps) }()
	stopWatch := func() {
		cancel()
		if err := <-done; err != nil {
			b.Fatalf("watching for probes: %v", err)
		}
	}
	defer cancel()
	settled := func(d time.Duration) bool {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if len(ps.pending()) == 0 {
				return true
			}
		}
		return false
	}
	// A first probe, untimed: the path is up.
	ps.send(fmt.Sprintf("%s-warmup-%d", prefix, time.Now().UnixNano()), time.Now())
	if _, err := probes.InsertOne(ctx, bson.D{{Key: "_id", Value: ps.pending()[0]}}); err != nil {
		b.Fatal(err)
	}
	if !settled(60 * time.Second) {
		stopWatch()
		b.Fatalf("warm-up probe not seen in 60 s")
	}
	ps.mu.Lock()
	ps.order, ps.lags = nil, nil
	ps.mu.Unlock()

	n := 100 * b.N
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		<-tick.C
		id := fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), i)
		ps.send(id, time.Now())
		writeMu.Lock()
		_, err := probes.InsertOne(ctx, bson.D{{Key: "_id", Value: id}})
		writeMu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	wait := 30 * time.Second
	if lossy {
		wait = 5 * time.Second
	}
	settled(wait)
	b.StopTimer()
	stopWatch()
	lost := len(ps.pending())
	if lost > 0 && !lossy {
		b.Fatalf("%d of %d probes not seen within %s of the last one sent", lost, n, wait)
	}
	lags := ps.lags
	if len(lags) == 0 {
		b.Fatalf("no probe seen (%d lost)", lost)
	}
	slices.Sort(lags)
	pct := func(p float64) float64 {
		return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
	if lossy {
		b.ReportMetric(float64(lost), "lost")
	}
}

// bareTail tails the source's oplog into seen (the _id of each lag.probe
// insert) until ctx ends: the test server's floor. It re-opens a cursor the
// server closed from the newest entry read.
func bareTail(ctx context.Context, c *mongo.Client, seen chan<- any) error {
	oplog := c.Database("local").Collection("oplog.rs")
	var last bson.Timestamp
	var newest struct {
		TS bson.Timestamp `bson:"ts"`
	}
	if err := oplog.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "$natural", Value: -1}})).Decode(&newest); err != nil {
		return err
	}
	last = newest.TS
	for ctx.Err() == nil {
		// The test server closes a cursor whose first batch is short: it is
		// re-opened 20 ms after one that brought entries, else after 5 ms.
		cur, err := oplog.Find(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$gt", Value: last}}}},
			options.Find().SetCursorType(options.TailableAwait).SetMaxAwaitTime(time.Second))
		if err != nil {
			return err
		}
		before := last
		for {
			if !cur.TryNext(ctx) {
				if cur.Err() != nil || cur.ID() == 0 || ctx.Err() != nil {
					break // re-open (a closed cursor) or stop
				}
				continue // an empty getMore the server awaited
			}
			t, i, _ := cur.Current.Lookup("ts").TimestampOK()
			if ts := (bson.Timestamp{T: t, I: i}); last.Before(ts) {
				last = ts
			}
			if ns, _ := cur.Current.Lookup("ns").StringValueOK(); ns != "lag.probe" {
				continue
			}
			id, ok := cur.Current.Lookup("o", "_id").StringValueOK()
			if !ok {
				continue
			}
			select {
			case seen <- id:
			case <-ctx.Done():
			}
		}
		err = cur.Err()
		cur.Close(context.Background())
		if err != nil && ctx.Err() == nil {
			return err
		}
		// Paced as the reader paces its re-opens of a cursor that brought
		// entries (20 ms): re-opened at once, each a scan of the whole
		// oplog on the test server, the loop overloads the server under
		// load and measures its own queue (p99 1.4 s where sync had 0.5 s).
		pause := 20 * time.Millisecond
		if last == before {
			pause = 5 * time.Millisecond
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
	}
	return ctx.Err()
}

// startLoad runs a 100 ops/s mixed load on lag.load (insert, update, delete
// in turn) when on, until the returned stop is called.
//
// Each write holds writeMu, which the probes' inserts hold too (lagProbes),
// so the load's writes and the probes' go one at a time: the test server
// gives an oplog entry its ts before it writes it, so two writes at once
// can make a later entry visible before an earlier one, which a tail that
// resumes after the later one never reads (MongoDB shows no entry before
// every earlier one is written). The load stays 100 ops/s; only its
// overlap with a probe goes.
func startLoad(b *testing.B, c *mongo.Client, on bool, writeMu *sync.Mutex) (stop func()) {
	if !on {
		return func() {}
	}
	coll := c.Database("lag").Collection("load")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		base := time.Now().UnixNano()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			k := i / 3
			id := fmt.Sprintf("%d-%d", base, k)
			var err error
			writeMu.Lock()
			switch i % 3 {
			case 0:
				_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: k}, {Key: "pad", Value: "load"}})
			case 1:
				_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: -k}}}})
			case 2:
				if k%2 == 0 { // keep half the documents
					_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
				} else {
					_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				}
			}
			writeMu.Unlock()
			if err != nil && ctx.Err() == nil {
				b.Errorf("load: %v", err)
				return
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// startSyncInProcess runs `mongo-sync sync` in this process with the
// default settings, incremental from now on, and returns what stops it;
// with mode "reader+applier", the reader and applier commands instead.
func startSyncInProcess(b *testing.B, srcURI, dstURI, mode string) (stop func()) {
	dir := b.TempDir()
	conf := filepath.Join(dir, "conf.toml")
	body := fmt.Sprintf(`[src]
uri = %q
[dst]
uri = %q
[spool]
dir = %q
[store]
path = %q
%s[log]
filepath = %q
[sync]
dbs = [ { db = "lag" } ]
`, srcURI, dstURI, filepath.Join(dir, "spool"), filepath.Join(dir, "state.db"), testsync.ApplierSection(1), filepath.Join(dir, "sync.log"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmds := [][]string{{"sync", "-f", conf, "--start-optime", nowOptime()}}
	if mode == "reader+applier" {
		cmds = [][]string{{"reader", "-f", conf, "--start-optime", nowOptime()}, {"applier", "-f", conf}}
	}
	done := make(chan error, len(cmds))
	for _, args := range cmds {
		go func() {
			root := newRoot()
			root.SetArgs(args)
			done <- root.ExecuteContext(ctx)
		}()
	}
	return func() {
		if b.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "sync.log")); err == nil {
				b.Logf("sync log:\n%s", log[max(0, len(log)-6000):])
			}
		}
		cancel()
		for range cmds {
			select {
			case err := <-done:
				if err != nil {
					b.Errorf("%s: %v", mode, err)
				}
			case <-time.After(60 * time.Second):
				b.Errorf("%s did not stop", mode)
			}
		}
	}
}
