package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func quietLogger() logrus.FieldLogger { return testlog.Quiet() }

// oplogEntry builds an insert oplog entry whose document carries seq-like
// markers so tests can find it, in order, after a round trip.
func oplogEntry(t uint32, i uint32, batch, idx int, padLen int) bson.Raw {
	doc := bson.D{
		{Key: "ts", Value: bson.Timestamp{T: t, I: i}},
		{Key: "t", Value: int64(1)},
		{Key: "op", Value: "i"},
		{Key: "ns", Value: "test.coll"},
		{Key: "o", Value: bson.D{
			{Key: "_id", Value: int64(batch)*100000 + int64(idx)},
			{Key: "batch", Value: int32(batch)},
			{Key: "idx", Value: int32(idx)},
			{Key: "marker", Value: fmt.Sprintf("MARKER-%06d-%06d", batch, idx)},
			{Key: "pad", Value: strings.Repeat("x", padLen)},
		}},
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return raw
}

func makeBatch(batch, n, padLen int) []bson.Raw {
	out := make([]bson.Raw, n)
	for i := range out {
		out[i] = oplogEntry(uint32(1_700_000_000+batch), uint32(i+1), batch, i, padLen)
	}
	return out
}

func openTestWriter(t testing.TB, dir string, mod func(*Options)) *Writer {
	t.Helper()
	opts := Options{SealInterval: time.Hour, Logger: quietLogger()}
	if mod != nil {
		mod(&opts)
	}
	w, err := OpenWriter(dir, opts)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	return w
}

// readAll drains every sealed entry from seq 1 (or the oldest kept).
func readAll(t testing.TB, dir string, from uint64) []Entry {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var all []Entry
	for {
		es, err := r.Read(context.Background(), from, 1000, 1<<20)
		if err != nil {
			t.Fatalf("Read from %d: %v", from, err)
		}
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
		from = es[len(es)-1].Seq + 1
	}
}

// checkContiguous is the spool's core invariant: seqs 1.. without gaps or
// duplicates, and every batch whole.
func checkContiguous(t testing.TB, es []Entry, first uint64) {
	t.Helper()
	for i, e := range es {
		if e.Seq != first+uint64(i) {
			t.Fatalf("entry %d has seq %d, want %d", i, e.Seq, first+uint64(i))
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+sealedExt))
	return m
}

func mustList(t testing.TB, dir string) Listing {
	t.Helper()
	l, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func fileMode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
