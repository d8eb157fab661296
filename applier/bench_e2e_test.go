package applier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"
)

// e2eDocs is small: the test server costs milliseconds per write.
const e2eDocs = 1000

// The test server's limits: more concurrent statements exhaust its SQLite
// pool and deadlock it.
const e2eWorkers, e2eBulk = 4, 20

// e2eSpool spools entry(i) for the first e2eDocs i, marked ended.
func e2eSpool(b *testing.B, entry func(int) bson.D) string {
	dir := filepath.Join(b.TempDir(), "spool")
	w, err := spool.OpenWriter(dir, spool.Options{Logger: testlog.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	var batch []bson.Raw
	for i := 0; i < e2eDocs; i++ {
		e := append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}}, entry(i)...)
		r, _ := bson.Marshal(e)
		batch = append(batch, r)
	}
	if _, _, err := w.Append(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
	w.MarkEnded()
	w.Close()
	return dir
}

func dropOrders(b *testing.B, c *mongo.Client) {
	b.StopTimer()
	if err := c.Database("shop").Drop(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
}

// drainE2E runs an applier over the spool dir until it is drained, with a
// fresh state store (4 workers, bulk writes of 20: the test server's limit).
func drainE2E(b *testing.B, client *mongo.Client, dir string) {
	sr, err := spool.OpenReader(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer sr.Close()
	st, err := store.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := &Applier{Spool: sr, SpoolDir: dir, Store: st, Translator: translate.NewTranslator(nil),
		Exec:     &exec.Executor{Client: client, Workers: e2eWorkers, BulkSize: e2eBulk, Log: testlog.Quiet()},
		BatchOps: 10000, BatchBytes: 16 << 20, ExitWhenDrained: true, Retention: 1 << 62, LogInterval: 1 << 62, Log: testlog.Quiet()}
	if err := a.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEndToEnd_Applier: the applier drains e2eDocs inserts into the
// test server (4 workers, bulk writes of 20: more concurrent statements exhaust
// the server's SQLite pool and deadlock it).
func BenchmarkEndToEnd_Applier(b *testing.B) {
	dst := testmongo.StartDest(b)
	client := dst.Client()
	dir := e2eSpool(b, insertEntry)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dropOrders(b, client)
		drainE2E(b, client, dir)
	}
	b.ReportMetric(float64(b.N*e2eDocs)/b.Elapsed().Seconds(), "inserts/s")
}

// BenchmarkEndToEnd_NaiveLoop: the same entries, one replace-upsert request
// each, in order: how a simple oplog replayer writes.
func BenchmarkEndToEnd_NaiveLoop(b *testing.B) {
	dst := testmongo.StartDest(b)
	client := dst.Client()
	docs := make([]bson.Raw, e2eDocs)
	for i := range docs {
		docs[i], _ = bson.Marshal(insertEntry(i)[2].Value)
	}
	c := client.Database("shop").Collection("orders")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dropOrders(b, client)
		for j, d := range docs {
			if _, err := c.ReplaceOne(context.Background(), bson.D{{Key: "_id", Value: int64(j)}}, d, options.Replace().SetUpsert(true)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*e2eDocs)/b.Elapsed().Seconds(), "inserts/s")
}

// BenchmarkEndToEnd_NaiveInsertLoop: one plain insert request per entry
// (not idempotent: a replay would fail), the cheapest single write.
func BenchmarkEndToEnd_NaiveInsertLoop(b *testing.B) {
	dst := testmongo.StartDest(b)
	client := dst.Client()
	c := client.Database("shop").Collection("orders")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dropOrders(b, client)
		for j := 0; j < e2eDocs; j++ {
			if _, err := c.InsertOne(context.Background(), insertEntry(j)[2].Value); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*e2eDocs)/b.Elapsed().Seconds(), "inserts/s")
}

// e2eLoad is one kind of write for BenchmarkEndToEnd_VsCeiling.
type e2eLoad struct {
	name    string
	entry   func(i int) bson.D // the oplog entry (without ts)
	preload func(i int) bson.D // the document the entry meets; nil: none
	// stmt is what the applier writes for entry(i): the document of an
	// insert statement, or the u of an update statement by _id.
	stmt  func(i int) bson.D
	cmd   string // insert or update, with ordered as the applier sends it
	field string
	order bool
	done  bson.D // a filter every written document matches
	check func(i int, doc bson.Raw) error
}

// deltaDoc is the document deltaEntry(i) updates: insertEntry(i)'s with the
// array its sitems section changes.
func deltaDoc(i int) bson.D {
	return append(insertEntry(i)[2].Value.(bson.D), bson.E{Key: "items", Value: bson.A{"a", "b", "c"}})
}

var e2eLoads = []e2eLoad{{
	name: "insert", entry: insertEntry,
	stmt: func(i int) bson.D { return insertEntry(i)[2].Value.(bson.D) },
	cmd:  "insert", field: "documents", done: bson.D{{Key: "note", Value: strings.Repeat("n", 120)}},
	check: func(i int, doc bson.Raw) error {
		if q, _ := doc.Lookup("qty").Int32OK(); q != int32(i%10) {
			return fmt.Errorf("qty %d, want %d", q, i%10)
		}
		return nil
	},
}, {
	name: "delta_v2", entry: deltaEntry, preload: deltaDoc,
	stmt: func(i int) bson.D {
		return bson.D{{Key: "$set", Value: bson.D{{Key: "qty", Value: int32(i % 7)}, {Key: "status", Value: "paid"}, {Key: "items.1", Value: "x"}}}}
	},
	cmd: "update", field: "updates", order: true, done: bson.D{{Key: "status", Value: "paid"}, {Key: "items.1", Value: "x"}},
	check: func(i int, doc bson.Raw) error {
		q, _ := doc.Lookup("qty").Int32OK()
		s, _ := doc.Lookup("status").StringValueOK()
		it, _ := doc.Lookup("items", "1").StringValueOK()
		p, _ := doc.Lookup("price").DoubleOK()
		if q != int32(i%7) || s != "paid" || it != "x" || p != 12.5 {
			return fmt.Errorf("not updated: %s", doc)
		}
		return nil
	},
}}

// ceilingCmds builds the write commands the applier's statements for l
// make, before any timing: split over the workers by _id hash as the
// applier splits them, e2eBulk statements a command. It checks that each
// statement is byte for byte what the applier's translator makes.
func ceilingCmds(b *testing.B, l e2eLoad) [][]bson.Raw {
	tr := translate.NewTranslator(nil)
	parts := make([]bson.A, e2eWorkers)
	for i := 0; i < e2eDocs; i++ {
		raw, _ := bson.Marshal(append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: 1}}}, l.entry(i)...))
		ops, err := tr.AppendOps(nil, uint64(i+1), bson.Timestamp{T: 1700000000, I: 1}, raw)
		stmt, _ := bson.Marshal(l.stmt(i))
		if err != nil || len(ops) != 1 || !bytes.Equal(ops[0].Doc, stmt) {
			b.Fatalf("%s %d: the applier writes %v (%v), not %s", l.name, i, ops, err, bson.Raw(stmt))
		}
		p := exec.Partition("shop.orders", ops[0].ID, e2eWorkers)
		var s any = bson.Raw(stmt)
		if l.cmd == "update" {
			s = bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: int64(i)}}}, {Key: "u", Value: bson.Raw(stmt)}, {Key: "upsert", Value: true}}
		}
		parts[p] = append(parts[p], s)
	}
	cmds := make([][]bson.Raw, e2eWorkers)
	for w, part := range parts {
		for len(part) > 0 {
			n := min(len(part), e2eBulk)
			cmd, err := bson.Marshal(bson.D{{Key: l.cmd, Value: "orders"}, {Key: "ordered", Value: l.order},
				{Key: "bypassDocumentValidation", Value: true}, {Key: l.field, Value: part[:n]}})
			if err != nil {
				b.Fatal(err)
			}
			cmds[w] = append(cmds[w], cmd)
			part = part[n:]
		}
	}
	return cmds
}

// sendCeiling sends each worker's commands in order, the workers at once.
func sendCeiling(ctx context.Context, db *mongo.Database, cmds [][]bson.Raw) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, part := range cmds {
		g.Go(func() error {
			for _, c := range part {
				if err := db.RunCommand(ctx, c).Err(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// checkOrders fails b unless every document of l was written: the count,
// the count matching l.done, and a sample read back.
func checkOrders(b *testing.B, client *mongo.Client, l e2eLoad, variant string) {
	ctx := context.Background()
	c := client.Database("shop").Collection("orders")
	n, err := c.CountDocuments(ctx, bson.D{})
	done, err2 := c.CountDocuments(ctx, l.done)
	if err = errors.Join(err, err2); err != nil || n != e2eDocs || done != e2eDocs {
		b.Fatalf("%s %s: %d documents, %d written (want %d): %v", l.name, variant, n, done, e2eDocs, err)
	}
	for i := 0; i < e2eDocs; i += 37 {
		doc, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: int64(i)}}).Raw()
		if err == nil {
			err = l.check(i, doc)
		}
		if err != nil {
			b.Fatalf("%s %s: _id %d: %v", l.name, variant, i, err)
		}
	}
}

// BenchmarkEndToEnd_VsCeiling: in one run, for inserts and for $v:2
// updates (onto preloaded documents), the applier draining e2eDocs entries
// from a spool, against the destination's own ceiling: the same
// statements, built beforehand, sent as the same commands by as many
// workers. Issue 13's goal: applier/ceiling at least 0.8. The two
// alternate, first one then the other, and each result is checked.
func BenchmarkEndToEnd_VsCeiling(b *testing.B) {
	dst := testmongo.StartDest(b)
	client := dst.Client()
	for _, l := range e2eLoads {
		b.Run(l.name, func(b *testing.B) {
			dir := e2eSpool(b, l.entry)
			cmds := ceilingCmds(b, l)
			var pre []any
			for i := 0; l.preload != nil && i < e2eDocs; i++ {
				pre = append(pre, l.preload(i))
			}
			db := client.Database("shop")
			variants := []struct {
				name string
				run  func()
				sum  time.Duration
			}{
				{name: "applier", run: func() { drainE2E(b, client, dir) }},
				{name: "ceiling", run: func() {
					if err := sendCeiling(context.Background(), db, cmds); err != nil {
						b.Fatal(err)
					}
				}},
			}
			b.ResetTimer()
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				for k := range variants {
					v := &variants[(k+i)%len(variants)]
					if err := db.Drop(context.Background()); err != nil {
						b.Fatal(err)
					}
					if pre != nil {
						if _, err := db.Collection("orders").InsertMany(context.Background(), pre); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					t0 := time.Now()
					v.run()
					v.sum += time.Since(t0)
					b.StopTimer()
					checkOrders(b, client, l, v.name)
				}
			}
			rate := func(d time.Duration) float64 { return float64(b.N*e2eDocs) / d.Seconds() }
			a, c := rate(variants[0].sum), rate(variants[1].sum)
			b.ReportMetric(a, "applier_ops/s")
			b.ReportMetric(c, "ceiling_ops/s")
			b.ReportMetric(a/c, "applier/ceiling")
		})
	}
}
