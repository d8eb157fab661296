package applier

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

const benchEntries = 100_000

// benchSpool writes n oplog entries made by mk into a fresh spool.
func benchSpool(b *testing.B, mk func(i int) bson.D) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "spool")
	w, err := spool.OpenWriter(dir, spool.Options{SealInterval: time.Hour, Logger: testlog.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]bson.Raw, 0, 1000)
	for i := 0; i < benchEntries; i++ {
		e := append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000 + uint32(i/1000), I: uint32(i%1000 + 1)}}, {Key: "t", Value: int64(1)}}, mk(i)...)
		r, _ := bson.Marshal(e)
		if batch = append(batch, r); len(batch) == cap(batch) {
			if _, _, err := w.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	w.Close()
	return dir
}

func insertEntry(i int) bson.D {
	return bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "shop.orders"}, {Key: "o", Value: bson.D{
		{Key: "_id", Value: int64(i)}, {Key: "item", Value: "sku-0042"}, {Key: "qty", Value: int32(i % 10)},
		{Key: "price", Value: 12.5}, {Key: "note", Value: strings.Repeat("n", 120)}}}}
}

func deltaEntry(i int) bson.D {
	return bson.D{{Key: "op", Value: "u"}, {Key: "ns", Value: "shop.orders"},
		{Key: "o", Value: bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: bson.D{
			{Key: "u", Value: bson.D{{Key: "qty", Value: int32(i % 7)}, {Key: "status", Value: "paid"}}},
			{Key: "sitems", Value: bson.D{{Key: "a", Value: true}, {Key: "u1", Value: "x"}}}}}}},
		{Key: "o2", Value: bson.D{{Key: "_id", Value: int64(i)}}}}
}

// cpuPath drains the spool through translate -> partition -> the write
// commands the executor sends (built, then discarded): the applier's CPU
// work short of the network. r, x, ops and the translator live as long as
// the applier's own (its spool reader, its Executor, the ops it reuses from
// batch to batch, its Translator).
func cpuPath(b *testing.B, r *spool.Reader, x *exec.Executor, ops *[]exec.Op, xlate func([]exec.Op, spool.Entry) ([]exec.Op, error), release func()) {
	sink := 0
	for from := uint64(1); ; {
		es, err := r.Read(context.Background(), from, 10000, 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		batch := (*ops)[:0]
		for _, e := range es {
			if batch, err = xlate(batch, e); err != nil {
				b.Fatal(err)
			}
		}
		sink += x.Build(batch)
		*ops = batch[:0] // reused as Applier.apply reuses them
		from = es[len(es)-1].Seq + 1
		r.Release() // as Applier.Run releases each batch once applied
		release()
	}
	if sink == 0 {
		b.Fatal("nothing built")
	}
}

func benchCPU(b *testing.B, mk func(int) bson.D, xlate func(*translate.Translator, []exec.Op, spool.Entry) ([]exec.Op, error)) {
	dir := benchSpool(b, mk)
	r, err := spool.OpenReader(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	x := &exec.Executor{Workers: 8, BulkSize: 100}
	tr := translate.NewTranslator(nil)
	var ops []exec.Op
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cpuPath(b, r, x, &ops, func(ops []exec.Op, e spool.Entry) ([]exec.Op, error) { return xlate(tr, ops, e) }, tr.Release)
	}
	b.ReportMetric(float64(b.N*benchEntries)/b.Elapsed().Seconds(), "ops/s")
}

func rawTranslate(tr *translate.Translator, ops []exec.Op, e spool.Entry) ([]exec.Op, error) {
	return tr.AppendOps(ops, e.Seq, e.TS, e.Raw)
}

// mapTranslate is the baseline: the same translation after unmarshalling
// every entry to a map and back, as appliers that decode to Go types do.
func mapTranslate(tr *translate.Translator, ops []exec.Op, e spool.Entry) ([]exec.Op, error) {
	var m map[string]any
	if err := bson.Unmarshal(e.Raw, &m); err != nil {
		return nil, err
	}
	raw, err := bson.Marshal(m)
	if err != nil {
		return nil, err
	}
	return tr.AppendOps(ops, e.Seq, e.TS, raw)
}

func BenchmarkCPUPath_Insert(b *testing.B)             { benchCPU(b, insertEntry, rawTranslate) }
func BenchmarkCPUPath_DeltaUpdate(b *testing.B)        { benchCPU(b, deltaEntry, rawTranslate) }
func BenchmarkCPUPath_Insert_MapBaseline(b *testing.B) { benchCPU(b, insertEntry, mapTranslate) }
func BenchmarkCPUPath_DeltaUpdate_MapBaseline(b *testing.B) {
	benchCPU(b, deltaEntry, mapTranslate)
}
