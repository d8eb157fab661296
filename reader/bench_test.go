package reader

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

const benchN = 100_000

func benchFileEntries() []bson.Raw {
	out := make([]bson.Raw, benchN)
	pad := strings.Repeat("x", 160)
	for i := range out {
		out[i], _ = bson.Marshal(bson.D{
			{Key: "ts", Value: bson.Timestamp{T: 1700000000 + uint32(i/1000), I: uint32(i%1000 + 1)}}, {Key: "t", Value: int64(1)},
			{Key: "op", Value: "i"}, {Key: "ns", Value: "app.items"},
			{Key: "o", Value: bson.D{{Key: "_id", Value: int64(i)}, {Key: "pad", Value: pad}}},
		})
	}
	return out
}

// BenchmarkFileToSpool: a 100k-entry oplog.bson through the reader into
// the spool (decode, filter, batch, append).
func BenchmarkFileToSpool(b *testing.B) {
	es := benchFileEntries()
	var buf []byte
	for _, e := range es {
		buf = append(buf, e...)
	}
	f := filepath.Join(b.TempDir(), "oplog.bson")
	os.WriteFile(f, buf, 0o600)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := spool.OpenWriter(filepath.Join(b.TempDir(), "s"), spool.Options{SealInterval: time.Hour, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		r := &Reader{W: w, Source: FileSource{Path: f}, Log: quiet(), BatchSize: 1000, BatchInterval: time.Hour}
		if err := r.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
	b.ReportMetric(float64(b.N*benchN)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkFileToSpool_Baseline: the same entries appended to the spool
// directly in batches of 1000: the ceiling the reader works against.
func BenchmarkFileToSpool_Baseline(b *testing.B) {
	es := benchFileEntries()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := spool.OpenWriter(filepath.Join(b.TempDir(), "s"), spool.Options{SealInterval: time.Hour, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < benchN; j += 1000 {
			if _, _, err := w.Append(context.Background(), es[j:j+1000]); err != nil {
				b.Fatal(err)
			}
		}
		w.Close()
	}
	b.ReportMetric(float64(b.N*benchN)/b.Elapsed().Seconds(), "entries/s")
}
