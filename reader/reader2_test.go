package reader

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestReader_FiltersNamespaces(t *testing.T) {
	src := testmongo.StartSource(t)
	c := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "keep", Colls: []config.Coll{{Coll: "a"}}}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := startReader(t, src.URI, dir, nowTS(t, src), c.Namespaces())
	cl := src.Client()
	insertN(t, cl.Database("keep").Collection("b"), 0, 5)        // other collection
	insertN(t, cl.Database("drop").Collection("a"), 0, 5)        // other database
	insertN(t, cl.Database("keep").Collection("system.x"), 0, 1) // system collection
	insertN(t, cl.Database("keep").Collection("a"), 0, 7)
	waitSpooled(t, r, dir, 7)
	time.Sleep(200 * time.Millisecond) // nothing else may trickle in
	r.stop(t)
	for _, e := range dataEntries(spooled(t, dir)) {
		if ns := e.Raw.Lookup("ns").StringValue(); ns != "keep.a" {
			t.Errorf("spooled an entry of %s", ns)
		}
	}
}

func TestReader_ResumesAfterRestart(t *testing.T) {
	src := testmongo.StartSource(t)
	dir := t.TempDir()
	coll := src.Client().Database("app").Collection("items")
	start := nowTS(t, src)
	r := startReader(t, src.URI, dir, start, nil)
	insertN(t, coll, 0, 20)
	waitSpooled(t, r, dir, 20)
	r.stop(t)
	insertN(t, coll, 20, 20) // written while the reader is down
	r = startReader(t, src.URI, dir, start, nil)
	insertN(t, coll, 40, 20)
	waitSpooled(t, r, dir, 60)
	r.stop(t)
	es := dataEntries(spooled(t, dir))
	if len(es) != 60 {
		t.Fatalf("%d entries after restart, want 60 (none lost, none twice)", len(es))
	}
	for i, e := range es {
		if id, _ := e.Raw.Lookup("o", "_id").AsInt64OK(); id != int64(i) {
			t.Fatalf("entry %d holds _id %d", i, id)
		}
	}
}

// spoolThenStop spools n inserts, stops the reader, then writes more
// inserts that only the source holds.
func spoolThenStop(t *testing.T, src *testmongo.Server, dir string, n, more int) {
	t.Helper()
	coll := src.Client().Database("app").Collection("items")
	r := startReader(t, src.URI, dir, nowTS(t, src), nil)
	insertN(t, coll, 0, n)
	waitSpooled(t, r, dir, n)
	r.stop(t)
	insertN(t, coll, n, more)
}

func TestReader_RolledOver(t *testing.T) {
	src := testmongo.StartSource(t)
	src.RequireTestServer(t, "deletes from local.oplog.rs to trim it, which a replica set forbids")
	dir := t.TempDir()
	spoolThenStop(t, src, dir, 10, 10)
	// The oplog moves past the resume point: its oldest entries are gone.
	trimOplog(t, src, oplogTS(t, src, 12))
	err := runUntilError(t, src.URI, dir)
	if !errors.Is(err, ErrRolledOver) || !strings.Contains(err.Error(), "resync needed") {
		t.Fatalf("got %v, want the rollover error", err)
	}
	if got := len(dataEntries(spooled(t, dir))); got != 10 {
		t.Fatalf("spool holds %d entries after the error, want the 10 it had", got)
	}
}

func TestReader_Diverged(t *testing.T) {
	src := testmongo.StartSource(t)
	src.RequireTestServer(t, "deletes a spooled entry from local.oplog.rs (a rollback), which a replica set forbids")
	dir := t.TempDir()
	spoolThenStop(t, src, dir, 10, 5)
	// The spooled entry vanishes while older ones stay: a rollback.
	oplog := src.Client().Database("local").Collection("oplog.rs")
	if _, err := oplog.DeleteOne(context.Background(), bson.D{{Key: "o._id", Value: 9}}); err != nil {
		t.Fatal(err)
	}
	if err := runUntilError(t, src.URI, dir); !errors.Is(err, ErrDiverged) {
		t.Fatalf("got %v, want the divergence error", err)
	}
}

// runUntilError runs a reader that must stop by itself with an error.
func runUntilError(t *testing.T, uri, dir string) error {
	t.Helper()
	r := startReader(t, uri, dir, bson.Timestamp{}, nil)
	select {
	case err := <-r.done:
		r.cancel()
		return err
	case <-time.After(30 * time.Second):
		r.cancel()
		t.Fatal("reader did not stop with an error")
		return nil
	}
}

func TestConnect_BadSources(t *testing.T) {
	noOplog := testmongo.Start(t, "", "-no-oplog")
	ctx := context.Background()
	if _, _, err := Connect(ctx, config.Mongo{URI: noOplog.URI}); !errors.Is(err, ErrNoOplog) {
		t.Errorf("source without oplog: %v", err)
	}
	_, _, err := Connect(ctx, config.Mongo{URI: "mongodb://u:secret@127.0.0.1:1/?serverSelectionTimeoutMS=500"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "secret") {
		t.Errorf("refused connection: %v (must name the host, not the password)", err)
	}
}

// writeOplogFile writes entries as a mongodump oplog.bson.
func writeOplogFile(t *testing.T, gz bool, entries ...bson.Raw) string {
	t.Helper()
	var buf bytes.Buffer
	for _, e := range entries {
		buf.Write(e)
	}
	data := buf.Bytes()
	if gz {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(data)
		zw.Close()
		data = zb.Bytes()
	}
	p := filepath.Join(t.TempDir(), "oplog.bson")
	os.WriteFile(p, data, 0o600)
	return p
}

func fileEntries(n int) []bson.Raw {
	out := make([]bson.Raw, n)
	for i := range out {
		out[i], _ = bson.Marshal(bson.D{
			{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}, {Key: "t", Value: int64(1)},
			{Key: "op", Value: "i"}, {Key: "ns", Value: "app.items"},
			{Key: "o", Value: bson.D{{Key: "_id", Value: i}}},
		})
	}
	return out
}

func spoolFile(t *testing.T, path, dir string) error {
	t.Helper()
	w, err := spool.OpenWriter(dir, spool.Options{Source: "file", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := &Reader{W: w, Source: FileSource{Path: path}, Log: quiet(), EndWhenDone: true, BatchSize: 7}
	return r.Run(context.Background())
}

func TestFileSource_SpoolsAndEnds(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		p := writeOplogFile(t, gz, fileEntries(100)...)
		if err := spoolFile(t, p, dir); err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		if n := len(spooled(t, dir)); n != 100 {
			t.Fatalf("gzip=%v: spooled %d, want 100", gz, n)
		}
		if last, ended, _ := spool.Ended(dir); !ended || last != 100 {
			t.Fatalf("gzip=%v: spool not marked ended at 100 (%d %v)", gz, last, ended)
		}
		// Spooling the same file again adds nothing.
		if err := spoolFile(t, p, dir); err != nil {
			t.Fatal(err)
		}
		if n := len(spooled(t, dir)); n != 100 {
			t.Fatalf("re-spooling the same file: %d entries, want 100", n)
		}
	}
}

func TestFileSource_BadFiles(t *testing.T) {
	good := fileEntries(10)
	var all []byte
	for _, e := range good {
		all = append(all, e...)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", all[:len(all)-5], "truncated entry"},
		{"not bson", []byte("this is a text file, not an oplog dump at all"), "not BSON"},
		{"no ts", func() []byte { b, _ := bson.Marshal(bson.D{{Key: "x", Value: 1}}); return b }(), "no ts"},
		{"over 16 MB", func() []byte {
			b, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "op", Value: "i"}, {Key: "ns", Value: "a.b"},
				{Key: "o", Value: bson.D{{Key: "_id", Value: 1}, {Key: "big", Value: strings.Repeat("x", 17<<20)}}}})
			return b
		}(), "over MongoDB's 16 MB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "oplog.bson")
			os.WriteFile(p, tc.data, 0o600)
			dir := t.TempDir()
			err := spoolFile(t, p, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want an error naming the file and %q", err, tc.want)
			}
			if _, ended, _ := spool.Ended(dir); ended {
				t.Fatal("a damaged file marked the spool ended")
			}
		})
	}
	// The entries before the damage are kept.
	p := filepath.Join(t.TempDir(), "oplog.bson")
	os.WriteFile(p, all[:len(all)-5], 0o600)
	dir := t.TempDir()
	spoolFile(t, p, dir)
	if n := len(spooled(t, dir)); n != 9 {
		t.Fatalf("spooled %d entries before the damage, want 9", n)
	}
}

func TestOptimeFile_RoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "optime")
	want := bson.Timestamp{T: 4294967295, I: 2}
	if err := WriteOptimeFile(p, want); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadOptimeFile(p); err != nil || got != want {
		t.Fatalf("got %v %v", got, err)
	}
	os.WriteFile(p, []byte("abc"), 0o600)
	if _, err := ReadOptimeFile(p); err == nil {
		t.Fatal("3-byte optime file accepted")
	}
}

// TestReader_MarkerMovesPositionAndResumes: only unsynced namespaces are
// written; the reader spools a position marker, and a restart resumes from
// it (its ts and term match the source's entry).
func TestReader_MarkerMovesPositionAndResumes(t *testing.T) {
	src := testmongo.StartSource(t)
	c := &config.Config{Sync: config.Sync{DBs: []config.DB{{DB: "keep"}}}}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := startReader(t, src.URI, dir, nowTS(t, src), c.Namespaces())
	insertN(t, src.Client().Database("other").Collection("x"), 0, 5)
	deadline := time.Now().Add(30 * time.Second)
	var markers int
	for markers == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no position marker spooled")
		}
		time.Sleep(100 * time.Millisecond)
		markers = 0
		for _, e := range spooled(t, dir) {
			if IsMarker(e.Raw) {
				markers++
			}
		}
	}
	r.stop(t)
	if n := len(dataEntries(spooled(t, dir))); n != 0 {
		t.Fatalf("%d data entries of unsynced namespaces spooled", n)
	}
	// Resume from the marker, then pick up a synced write.
	r = startReader(t, src.URI, dir, bson.Timestamp{}, c.Namespaces())
	insertN(t, src.Client().Database("keep").Collection("y"), 0, 3)
	waitSpooled(t, r, dir, 3)
	r.stop(t)
}
