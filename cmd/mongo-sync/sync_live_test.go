package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSync_AppliesOpenSegment: in sync the applier follows the reader's open
// segment. With seal_interval at one hour nothing is sealed while it runs,
// yet inserts reach the destination. After kill -9 (nothing sealed, the
// checkpoint inside the open segment) the restarted writer seals what was
// left open and the applier resumes after its checkpoint.
func TestSync_AppliesOpenSegment(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf.toml")
	body := fmt.Sprintf(`[src]
uri = %q
[dst]
uri = %q
[spool]
dir = %q
seal_interval = "1h"
[store]
path = %q
%s[sync]
dbs = [ { db = "live" } ]
`, src.URI, dst.URI, filepath.Join(dir, "spool"), filepath.Join(dir, "state.db"), testsync.ApplierSection(1))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := src.Client().Database("live").Collection("c")
	out := dst.Client().Database("live").Collection("c")
	spoolDir := filepath.Join(dir, "spool")

	p := start(t, "sync", "-f", conf, "--start-optime", nowOptime())
	p.waitLog(t, 60*time.Second, "applier starting")
	for round := 0; round < 2; round++ {
		for i := 0; i < 5; i++ {
			id := round*100 + i
			if _, err := in.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "round", Value: round}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, fmt.Sprintf("document %d on the destination", id), func() bool {
				n, _ := out.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
				return n == 1
			})
		}
		l, err := spool.List(spoolDir)
		if err != nil {
			t.Fatal(err)
		}
		// Round 0 runs on a fresh spool; round 1 after a restart, whose
		// writer sealed the segment round 0 left open.
		if l.Open == nil || len(l.Sealed) != round {
			t.Fatalf("round %d: want an open segment and %d sealed, have %d sealed, open %v:\n%s", round, round, len(l.Sealed), l.Open != nil, p.output())
		}
		if round == 0 {
			p.kill9()
			p = start(t, "sync", "-f", conf)
			p.waitLog(t, 60*time.Second, "applier starting")
			continue
		}
		if err := p.term(t); err != nil {
			t.Fatalf("sync exit on SIGTERM: %v\n%s", err, p.output())
		}
	}
	if n := len(spooledData(t, spoolDir)); n != 10 {
		t.Fatalf("spool holds %d data entries, want 10", n)
	}
	if n, _ := out.CountDocuments(ctx, bson.D{}); n != 10 {
		t.Fatalf("destination holds %d documents, want 10", n)
	}
}
