//go:build failpoints

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestFault_UntranslatableTransactionKillNine: a partialTxn chain whose
// commit holds an op the applier does not know. The applier process is
// killed with SIGKILL after the writes before the commit were acknowledged
// and before the checkpoint was recorded; then it is restarted twice,
// nothing fixed. Each run stops at the commit, the checkpoint stays below
// the chain's first entry, and no part of the transaction is applied.
func TestFault_UntranslatableTransactionKillNine(t *testing.T) {
	dst := testmongo.StartDest(t)
	dir := t.TempDir()
	conf := testsync.WriteConfig(t, dir, dst.URI, dst.URI, "")
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}
	ins := func(id int) bson.D {
		return bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "t.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: id}}}}
	}
	txn := func(o bson.D) bson.D {
		return bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"}, {Key: "o", Value: o},
			{Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(5)}}
	}
	entries := []bson.D{
		ins(100), // seq 1
		txn(bson.D{{Key: "applyOps", Value: bson.A{ins(1)}}, {Key: "partialTxn", Value: true}}), // seq 2: the chain begins
		ins(101), // seq 3
		txn(bson.D{{Key: "applyOps", Value: bson.A{ins(2), bson.D{{Key: "op", Value: "z"}, {Key: "ns", Value: "t.c"}, {Key: "o", Value: bson.D{}}}}}}), // seq 4: the commit
	}
	var buf bytes.Buffer
	for i, e := range entries {
		e = append(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}, {Key: "t", Value: int64(1)}}, e...)
		raw, err := bson.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(raw)
	}
	oplog := filepath.Join(dir, "oplog.bson")
	if err := os.WriteFile(oplog, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "reader", "--spool-dir", filepath.Join(dir, "spool"), "--src-file", oplog); err != nil {
		t.Fatalf("reader --src-file: %v\n%s", err, out)
	}

	p := startEnv(t, []string{"MONGO_SYNC_FAILPOINT=applier-before-checkpoint:1"}, "applier", "-f", conf, "--exit-when-drained")
	select {
	case <-p.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("the applier neither stopped nor reached its failpoint:\n%s", p.output())
	}
	if !strings.Contains(p.output(), "failpoint applier-before-checkpoint hit") {
		t.Fatalf("the applier exited (%v) without reaching applier-before-checkpoint:\n%s", p.err, p.output())
	}
	coll := dst.Client().Database("t").Collection("c")
	check := func(run string) {
		t.Helper()
		st, err := store.Open(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := st.Checkpoint()
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ck.Seq >= 2 {
			t.Errorf("%s: checkpoint at seq %d, past the chain's first entry (seq 2)", run, ck.Seq)
		}
		for _, id := range []int{1, 2} {
			if n, _ := coll.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: id}}); n != 0 {
				t.Errorf("%s: _id %d of the untranslatable transaction was applied", run, id)
			}
		}
	}
	check("after kill -9")
	for _, r := range []string{"first restart", "second restart"} {
		out, err := run(t, "applier", "-f", conf, "--exit-when-drained")
		if err == nil || !strings.Contains(out, "seq 4") || !strings.Contains(out, "unknown op") {
			t.Errorf("%s: exit %v, want a stop naming seq 4 and the unknown op:\n%s", r, err, out)
		}
		check(r)
	}
	if n, _ := coll.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: 100}}); n != 1 {
		t.Error("the entry before the transaction was not applied")
	}
}
