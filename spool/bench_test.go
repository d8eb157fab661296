package spool

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// 300-byte oplog entries in batches of 1000, fsync on: the spool against a
// raw bbolt baseline with the same batch size and FillPercent.
const benchBatch = 1000

func benchEntries() []bson.Raw {
	es := makeBatch(1, benchBatch, 160)
	if n := len(es[0]); n < 280 || n > 320 {
		panic("bench entries are not ~300 bytes")
	}
	return es
}

func BenchmarkAppend_Spool(b *testing.B) {
	es := benchEntries()
	w, err := OpenWriter(b.TempDir(), Options{SealInterval: time.Hour, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.SetBytes(int64(len(es[0]) * benchBatch))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := w.Append(context.Background(), es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkAppend_RawBbolt(b *testing.B) {
	es := benchEntries()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.SetBytes(int64(len(es[0]) * benchBatch))
	b.ResetTimer()
	seq := uint64(0)
	for i := 0; i < b.N; i++ {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("e"))
			if err != nil {
				return err
			}
			bk.FillPercent = 1.0
			for _, e := range es {
				seq++
				if err := bk.Put(seqKey(seq), e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkReadBack_Spool(b *testing.B) { benchReadBack(b, false) }

// BenchmarkReadBack_SpoolReleased releases every batch, as the applier
// does: each is read into the memory of the one before.
func BenchmarkReadBack_SpoolReleased(b *testing.B) { benchReadBack(b, true) }

func benchReadBack(b *testing.B, release bool) {
	dir := b.TempDir()
	es := benchEntries()
	w, _ := OpenWriter(dir, Options{SealInterval: time.Hour, Logger: quietLogger()})
	for i := 0; i < 100; i++ {
		w.Append(context.Background(), es)
	}
	w.Close()
	r, _ := OpenReader(dir)
	defer r.Close()
	b.SetBytes(int64(len(es[0]) * 100 * benchBatch))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for from := uint64(1); ; {
			got, err := r.Read(context.Background(), from, benchBatch, 1<<24)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			from = got[len(got)-1].Seq + 1
			if release {
				r.Release()
			}
		}
	}
	b.ReportMetric(float64(b.N*100*benchBatch)/b.Elapsed().Seconds(), "entries/s")
}
