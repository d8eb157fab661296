package applier

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/gate"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// shardSpool spools e2eDocs inserts with _ids from base on, through g when
// set (as a shard's reader does), marked ended.
func shardSpool(b *testing.B, base int, g *gate.ShardGate) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "spool")
	w, err := spool.OpenWriter(dir, spool.Options{Logger: testlog.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	var app reader.Appender = w
	if g != nil {
		app = g.Appender(w)
	}
	var batch []bson.Raw
	for i := 0; i < e2eDocs; i++ {
		e := append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}}, insertEntry(base+i)...)
		r, _ := bson.Marshal(e)
		batch = append(batch, r)
	}
	if _, _, err := app.Append(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
	if err := app.MarkEnded(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	return dir
}

// drainShard applies one spool as a sync applier does (4 workers, bulk
// writes of 20: the test server's limit).
func drainShard(b *testing.B, client *mongo.Client, dir string, g *gate.ShardGate) {
	sr, _ := spool.OpenReader(dir)
	defer sr.Close()
	st, err := store.Open(filepath.Join(filepath.Dir(dir), "state.db"))
	if err != nil {
		b.Error(err)
		return
	}
	defer st.Close()
	a := &Applier{Spool: sr, SpoolDir: dir, Store: st, Translator: translate.NewTranslator(nil),
		Exec:     &exec.Executor{Client: client, Workers: 4, BulkSize: 20, Log: testlog.Quiet()},
		BatchOps: 10000, BatchBytes: 16 << 20, ExitWhenDrained: true, Retention: 1 << 62, LogInterval: 1 << 62, Log: testlog.Quiet(), Gate: g}
	if err := a.Run(context.Background()); err != nil {
		b.Error(err)
	}
}

// BenchmarkShards_ApplyVsOneReplicaSet: in one run, the entries/s of one
// replica set's applier draining e2eDocs inserts, and of two shards'
// appliers (through the cross-shard gate) draining e2eDocs each at once,
// into one destination server and into one destination server each (a
// destination cluster spreads the shards' writes over its own shards), and
// into one each with no gate (the gate's own cost: gated_vs_ungated_2dst).
// Issue 12's goal: two shards at least 1.6x the entries/s of one.
func BenchmarkShards_ApplyVsOneReplicaSet(b *testing.B) {
	d1, d2 := testmongo.StartDest(b), testmongo.StartDest(b)
	c1, c2 := d1.Client(), d2.Client()
	var one, sameDst, ownDst, ungated time.Duration
	for i := 0; i < b.N; i++ {
		dropOrders(b, c1)
		dropOrders(b, c2)
		b.StopTimer()
		dir := shardSpool(b, 0, nil)
		b.StartTimer()
		t0 := time.Now()
		drainShard(b, c1, dir, nil)
		one += time.Since(t0)

		// Two shards into one destination server, into one each, and into
		// one each without the gate: the last pair is the gate's own cost,
		// apart from what the machine allows.
		for _, v := range []struct {
			own, gated bool
			sum        *time.Duration
		}{{false, true, &sameDst}, {true, true, &ownDst}, {true, false, &ungated}} {
			dropOrders(b, c1)
			dropOrders(b, c2)
			b.StopTimer()
			var ga, gb *gate.ShardGate
			if v.gated {
				cl := gate.NewCluster(testlog.Quiet())
				ga, gb = cl.Shard("a", nil), cl.Shard("b", nil)
			}
			da, db := shardSpool(b, 0, ga), shardSpool(b, 1_000_000, gb)
			b.StartTimer()
			t0 := time.Now()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); drainShard(b, c1, da, ga) }()
			dstB := c1
			if v.own {
				dstB = c2
			}
			go func() { defer wg.Done(); drainShard(b, dstB, db, gb) }()
			wg.Wait()
			*v.sum += time.Since(t0)
		}
	}
	rate := func(entries int, d time.Duration) float64 { return float64(entries*b.N) / d.Seconds() }
	r1, r2, r3 := rate(e2eDocs, one), rate(2*e2eDocs, sameDst), rate(2*e2eDocs, ownDst)
	b.ReportMetric(r1, "rs_entries/s")
	b.ReportMetric(r2, "2shards_1dst_entries/s")
	b.ReportMetric(r3, "2shards_2dst_entries/s")
	r4 := rate(2*e2eDocs, ungated)
	b.ReportMetric(r2/r1, "ratio_1dst")
	b.ReportMetric(r3/r1, "ratio_2dst")
	b.ReportMetric(r3/r4, "gated_vs_ungated_2dst")
}
