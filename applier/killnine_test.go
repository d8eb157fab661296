package applier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// childEnv makes the test binary an applier process (TestMain): the kill
// -9 test starts it, kills it with SIGKILL and starts it again.
const childEnv = "MONGO_SYNC_APPLIER_CHILD"

// child is what an applier process is given, as JSON in childEnv.
type child struct {
	URI, Spool, State string
	BatchOps          int
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild drains the spool into the destination as the conformance
// runner does, and exits 0 once the ended spool is applied.
func runChild(spec string) int {
	var c child
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", childEnv, err)
		return 2
	}
	client, err := mongo.Connect(options.Client().ApplyURI(c.URI))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	err = drain(context.Background(), client, c.Spool, c.State,
		func(*store.Store) *translate.Translator { return translate.NewTranslator(nil) }, c.BatchOps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "applier:", err)
		return 1
	}
	return 0
}

// TestKillNine_ConformanceCasesInOneOplog replays every conformance case
// the destination can run (the spec's $v:2 diffs, dotted $v:1 paths,
// replacements, DDL, renames by UUID, applyOps, partialTxn chains and
// prepared transactions), three times over, as one oplog file: each copy
// of a case moved to databases of its own, with its own UUIDs, lsids and
// times. The applier runs as a process of its own (this test binary, see
// TestMain), one entry per batch, is killed with SIGKILL at random
// moments until it has reached the spool's end, and then drains it. Every case's expected
// end state, read from the case file and not from our code, must then hold.
func TestKillNine_ConformanceCasesInOneOplog(t *testing.T) {
	cases, _ := loadCases(t)
	skips, err := readSkips(filepath.Join(confDir(), "skips.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dst := testmongo.StartDest(t)
	client := dst.Client()
	ctx := context.Background()

	var placed []confCase
	var oplog []bson.Raw
	for copyN := 0; copyN < 3; copyN++ {
		for _, c := range cases {
			if c.ExpectErrorOK || (dst.TestServer && skips[c.Name] != "") {
				continue
			}
			k := len(placed) + 1
			rc := relocate(t, c, k)
			if reason := setup(t, client, rc); reason != "" {
				t.Fatalf("%s (copy %d as %s): %s", c.Name, copyN, rc.NS, reason)
			}
			placed = append(placed, rc)
			oplog = append(oplog, docs(t, rc.Oplog)...)
		}
	}
	spoolDir := spoolOplog(t, oplog)
	state := filepath.Join(filepath.Dir(spoolDir), "state.db")
	spec, _ := json.Marshal(child{URI: dst.URI, Spool: spoolDir, State: state, BatchOps: 1})

	end, ended, err := spool.Ended(spoolDir)
	if err != nil || !ended {
		t.Fatalf("the spool of the oplog file: end %d, ended %v (%v)", end, ended, err)
	}

	// Runs are killed at a random moment while the checkpoint is short of
	// the spool's end (its last entry: the reader leaves no-ops and the
	// like out), at most maxKills times; then a run drains the spool.
	const maxKills = 30
	var midway []uint64 // the checkpoint each kill left, short of the end
	kills := 0
	var at uint64
	for run := 0; ; run++ {
		cmd := osexec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(30+rand.IntN(220)) * time.Millisecond
		if kills == maxKills || at == end {
			delay = 2 * time.Minute
		}
		drained := false
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d of the applier (after %d kills): %v\n%s", run, kills, err, out.String())
			}
			drained = true
		case <-time.After(delay):
			if delay == 2*time.Minute {
				t.Fatalf("run %d of the applier did not drain the spool in 2 minutes (at seq %d of %d)", run, at, end)
			}
			cmd.Process.Kill()
			<-done
			kills++
		}
		st, err := store.Open(state)
		if err != nil {
			t.Fatalf("state file after run %d: %v", run, err)
		}
		cp, err := st.Checkpoint()
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		at = cp.Seq
		if drained {
			break
		}
		if at < end {
			midway = append(midway, at)
		}
	}
	if len(midway) < 3 {
		t.Fatalf("%d kills, %d of them with the checkpoint short of the spool's end (seq %d): too few to test recovery", kills, len(midway), end)
	}
	for _, c := range placed {
		check(t, ctx, client, c, fmt.Sprintf("%s after %d kills", c.Name, kills))
	}
	if t.Failed() {
		return
	}
	t.Logf("%d cases (3 copies) as %d entries, %d spooled; %d kills -9, %d short of the end (checkpoints %v); every case's end state holds",
		len(placed), len(oplog), end, kills, len(midway), midway)
}

// relocation moves a case's databases, UUIDs and times out of every other
// case's way: database D becomes k<k>_D, every UUID (collection ui, lsid)
// has its last two bytes xored with k, and every non-zero timestamp moves
// to a window of its own (1000 s per case), in the oplog and the expected
// documents alike.
type relocation struct {
	k     int
	dbs   []string
	shift int64
}

func relocate(t *testing.T, c confCase, k int) confCase {
	t.Helper()
	r := &relocation{k: k}
	r.collect(t, c)
	minT := int64(-1)
	for _, e := range docs(t, c.Oplog) {
		if ts, _, ok := e.Lookup("ts").TimestampOK(); ok && ts > 0 && (minT < 0 || int64(ts) < minT) {
			minT = int64(ts)
		}
	}
	if minT > 0 {
		r.shift = 1_900_000_000 + int64(k)*1000 - minT
	}
	out := c
	out.NS = r.ns(c.NS)
	out.Before, out.Oplog, out.After = r.raw(t, c.Before), r.raw(t, c.Oplog), r.raw(t, c.After)
	out.AfterIndexes = r.raw(t, c.AfterIndexes)
	out.BeforeByNS, out.AfterByNS = r.byNS(t, c.BeforeByNS), r.byNS(t, c.AfterByNS)
	out.BeforeColls, out.BeforeIndexes = r.byNS(t, c.BeforeColls), r.byNS(t, c.BeforeIndexes)
	out.AfterAbsentIDs = r.byNS(t, c.AfterAbsentIDs)
	if c.AfterColls != nil {
		ac := *c.AfterColls
		ac.Present, ac.Absent = r.list(ac.Present), r.list(ac.Absent)
		out.AfterColls = &ac
	}
	return out
}

// collect finds the case's databases: those its namespaces name, except
// admin (where transactions and applyOps are logged), config and local.
func (r *relocation) collect(t *testing.T, c confCase) {
	add := func(ns string) {
		db, _, ok := strings.Cut(ns, ".")
		if ok && db != "" && db != "admin" && db != "config" && db != "local" && !slices.Contains(r.dbs, db) {
			r.dbs = append(r.dbs, db)
		}
	}
	add(c.NS)
	for _, m := range []map[string]json.RawMessage{c.BeforeByNS, c.AfterByNS, c.BeforeColls, c.BeforeIndexes, c.AfterAbsentIDs} {
		for ns := range m {
			add(ns)
		}
	}
	var walk func(v bson.RawValue, key string)
	walk = func(v bson.RawValue, key string) {
		switch v.Type {
		case bson.TypeString:
			if key == "ns" || key == "renameCollection" || key == "to" {
				add(v.StringValue())
			}
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			els, _ := bson.Raw(v.Value).Elements()
			for _, e := range els {
				walk(e.Value(), e.Key())
			}
		}
	}
	for _, e := range docs(t, c.Oplog) {
		walk(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: e}, "")
	}
	sort.Strings(r.dbs)
}

func (r *relocation) ns(s string) string {
	for _, db := range r.dbs {
		if rest, ok := strings.CutPrefix(s, db+"."); ok {
			return fmt.Sprintf("k%d_%s.%s", r.k, db, rest)
		}
	}
	return s
}

func (r *relocation) list(nss []string) []string {
	out := make([]string, len(nss))
	for i, ns := range nss {
		out[i] = r.ns(ns)
	}
	return out
}

func (r *relocation) byNS(t *testing.T, m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for ns, raw := range m {
		out[r.ns(ns)] = r.raw(t, raw)
	}
	return out
}

// raw relocates one Extended JSON value of the case file (a document or an
// array of them).
func (r *relocation) raw(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if len(raw) == 0 {
		return raw
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(`{"v":`+string(raw)+`}`), true, &d); err != nil {
		t.Fatalf("ext json %s: %v", raw, err)
	}
	d[0].Value = r.value(d[0].Value)
	b, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		V json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back.V
}

func (r *relocation) value(v any) any {
	switch x := v.(type) {
	case bson.D:
		for i := range x {
			x[i].Value = r.value(x[i].Value)
		}
	case bson.A:
		for i := range x {
			x[i] = r.value(x[i])
		}
	case string:
		return r.ns(x)
	case bson.Binary:
		if x.Subtype == bson.TypeBinaryUUID && len(x.Data) == 16 {
			d := bytes.Clone(x.Data)
			d[14] ^= byte(r.k >> 8)
			d[15] ^= byte(r.k)
			x.Data = d
		}
		return x
	case bson.Timestamp:
		if x.T > 0 && r.shift != 0 {
			x.T = uint32(int64(x.T) + r.shift)
		}
		return x
	}
	return v
}
