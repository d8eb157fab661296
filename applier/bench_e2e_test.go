package applier

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// e2eDocs is small: the test server costs milliseconds per write.
const e2eDocs = 1000

// e2eSpool spools e2eDocs insert entries, marked ended.
func e2eSpool(b *testing.B) string {
	dir := filepath.Join(b.TempDir(), "spool")
	w, err := spool.OpenWriter(dir, spool.Options{Logger: testlog.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	var batch []bson.Raw
	for i := 0; i < e2eDocs; i++ {
		e := append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}}, insertEntry(i)...)
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

// BenchmarkEndToEnd_Applier: the applier drains e2eDocs inserts into the
// test server (4 workers, bulk writes of 20: more concurrent statements exhaust
// the server's SQLite pool and deadlock it).
func BenchmarkEndToEnd_Applier(b *testing.B) {
	dst := testmongo.StartDest(b)
	client := dst.Client()
	dir := e2eSpool(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dropOrders(b, client)
		sr, _ := spool.OpenReader(dir)
		st, err := store.Open(filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		a := &Applier{Spool: sr, SpoolDir: dir, Store: st, Translator: NewTranslator(nil),
			Exec:     &Executor{Client: client, Workers: 4, BulkSize: 20, Log: testlog.Quiet()},
			BatchOps: 10000, BatchBytes: 16 << 20, ExitWhenDrained: true, Retention: 1 << 62, LogInterval: 1 << 62, Log: testlog.Quiet()}
		if err := a.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		st.Close()
		sr.Close()
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
