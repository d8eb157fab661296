package copier

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const benchDocs = 20000

var splitDocs = int64(benchDocs / 4)

func benchDoc(i int) bson.D {
	return bson.D{{Key: "_id", Value: int64(i)}, {Key: "sku", Value: fmt.Sprintf("sku-%05d", i%5000)},
		{Key: "qty", Value: int32(i % 10)}, {Key: "price", Value: 9.99}, {Key: "note", Value: strings.Repeat("n", 150)}}
}

func docBytes() int64 {
	b, _ := bson.Marshal(benchDoc(0))
	return int64(len(b))
}

func dropDB(b *testing.B, c *mongo.Client) {
	b.StopTimer()
	if err := c.Database("shop").Drop(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
}

// BenchmarkCopy: the copier copies benchDocs documents (split into 4
// ranges, 4 workers, batches of 1000) from one test server to another.
func BenchmarkCopy(b *testing.B) {
	src, dst := testmongo.StartSource(b), testmongo.StartDest(b)
	sc, dc := src.Client(), dst.Client()
	var docs []any
	for i := 0; i < benchDocs; i++ {
		docs = append(docs, benchDoc(i))
	}
	if _, err := sc.Database("shop").Collection("orders").InsertMany(context.Background(), docs); err != nil {
		b.Fatal(err)
	}
	cfg := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "shop"}}}}
	if err := cfg.Finish(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchDocs * docBytes())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dropDB(b, dc)
		st, err := store.Open(filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		c := &Copier{Src: sc, Dst: dc, NS: cfg.Namespaces(), Store: st, Workers: 4, BatchDocs: 1000, SplitDocs: splitDocs,
			Progress: Discard{}, Log: testlog.Quiet()}
		if err := c.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkCopy_InsertManyBaseline: the same documents, already in memory,
// inserted in batches of 1000 on 4 connections at once: the destination's
// ceiling for this load.
func BenchmarkCopy_InsertManyBaseline(b *testing.B) {
	dst := testmongo.StartDest(b)
	dc := dst.Client()
	var docs []any
	for i := 0; i < benchDocs; i++ {
		docs = append(docs, benchDoc(i))
	}
	b.SetBytes(benchDocs * docBytes())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dropDB(b, dc)
		coll := dc.Database("shop").Collection("orders")
		quarter := benchDocs / 4
		errs := make(chan error, 4)
		for w := 0; w < 4; w++ {
			go func(part []any) {
				for len(part) > 0 {
					n := min(1000, len(part))
					if _, err := coll.InsertMany(context.Background(), part[:n]); err != nil {
						errs <- err
						return
					}
					part = part[n:]
				}
				errs <- nil
			}(docs[w*quarter : (w+1)*quarter])
		}
		for w := 0; w < 4; w++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "docs/s")
}

func BenchmarkCopy_OneRange(b *testing.B) {
	old := splitDocs
	splitDocs = benchDocs * 2
	defer func() { splitDocs = old }()
	BenchmarkCopy(b)
}

// BenchmarkCopy_SourceReadOnly: reading the same documents from the source
// test server, copied out of the cursor, written nowhere: the other half of
// what the copy costs on this machine, where both servers share two cores.
func BenchmarkCopy_SourceReadOnly(b *testing.B) {
	src := testmongo.StartSource(b)
	sc := src.Client()
	var docs []any
	for i := 0; i < benchDocs; i++ {
		docs = append(docs, benchDoc(i))
	}
	if _, err := sc.Database("shop").Collection("orders").InsertMany(context.Background(), docs); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchDocs * docBytes())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cur, err := sc.Database("shop").Collection("orders").Find(context.Background(), bson.D{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for cur.Next(context.Background()) {
			_ = append(bson.Raw(nil), cur.Current...)
			n++
		}
		if n != benchDocs {
			b.Fatalf("read %d", n)
		}
	}
	b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "docs/s")
}
