package copier

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const benchDocs = 20000

const splitDocs = benchDocs / 4

func benchDoc(i int) bson.D {
	return bson.D{{Key: "_id", Value: int64(i)}, {Key: "sku", Value: fmt.Sprintf("sku-%05d", i%5000)},
		{Key: "qty", Value: int32(i % 10)}, {Key: "price", Value: 9.99}, {Key: "note", Value: strings.Repeat("n", 150)}}
}

func docBytes() int64 {
	b, _ := bson.Marshal(benchDoc(0))
	return int64(len(b))
}

// cpuMeter reports the processor time each server and this process spent
// per 1,000 documents: on a shared 2-core machine, where a load's cost goes.
type cpuMeter struct {
	names []string
	srvs  []*testmongo.Server
	start []time.Duration
	self  time.Duration
}

func meter(names []string, srvs ...*testmongo.Server) *cpuMeter {
	m := &cpuMeter{names: names, srvs: srvs, self: selfCPU()}
	for _, s := range srvs {
		m.start = append(m.start, s.CPU())
	}
	return m
}

func (m *cpuMeter) report(b *testing.B, docs int) {
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / (float64(docs) / 1000) }
	for i, s := range m.srvs {
		b.ReportMetric(per(s.CPU()-m.start[i]), m.names[i]+"-cpu-ms/kdoc")
	}
	b.ReportMetric(per(selfCPU()-m.self), "client-cpu-ms/kdoc")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dropDB(b *testing.B, c *mongo.Client) {
	b.StopTimer()
	if err := c.Database("shop").Drop(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
}

// pinned gives the source server CPU 0 and the destination CPU 1 (this
// process floats): on a 2-core machine, the nearest thing to each server on
// its own hardware, with the destination on one core in the copy and in its
// baseline alike.
func pinned(src, dst *testmongo.Server) {
	if src != nil {
		src.Pin("0")
	}
	if dst != nil {
		dst.Pin("1")
	}
}

// BenchmarkCopy: the copier copies benchDocs documents (split into 4
// ranges, 4 workers, batches of 1000) from one test server to another.
func BenchmarkCopy(b *testing.B) { benchCopy(b, splitDocs, false) }

func BenchmarkCopy_OneRange(b *testing.B)       { benchCopy(b, benchDocs*2, false) }
func BenchmarkCopyPinned_OneRange(b *testing.B) { benchCopy(b, benchDocs*2, true) }

func benchCopy(b *testing.B, split int64, pin bool) {
	src, dst := testmongo.StartSource(b), testmongo.StartDest(b)
	if pin {
		pinned(src, dst)
	}
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
	m := meter([]string{"src", "dst"}, src, dst)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dropDB(b, dc)
		st, err := store.Open(filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		c := &Copier{Src: sc, Dst: dc, NS: cfg.Namespaces(), Store: st, Workers: 4, BatchDocs: 1000, SplitDocs: split,
			Progress: Discard{}, Log: testlog.Quiet()}
		if err := c.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "docs/s")
	m.report(b, b.N*benchDocs)
}

// BenchmarkCopy_InsertManyBaseline: the same documents, already in memory,
// inserted in batches of 1000 on 4 connections at once: the destination's
// ceiling for this load.
func BenchmarkCopy_InsertManyBaseline(b *testing.B)       { benchInsertMany(b, false) }
func BenchmarkCopyPinned_InsertManyBaseline(b *testing.B) { benchInsertMany(b, true) }

func benchInsertMany(b *testing.B, pin bool) {
	dst := testmongo.StartDest(b)
	if pin {
		pinned(nil, dst)
	}
	dc := dst.Client()
	var docs []any
	for i := 0; i < benchDocs; i++ {
		docs = append(docs, benchDoc(i))
	}
	b.SetBytes(benchDocs * docBytes())
	m := meter([]string{"dst"}, dst)
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
	m.report(b, b.N*benchDocs)
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
	m := meter([]string{"src"}, src)
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
	m.report(b, b.N*benchDocs)
}
