package applier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type confCase struct {
	Name          string                     `json:"name"`
	NS            string                     `json:"ns"`
	Tags          []string                   `json:"tags"`
	Before        json.RawMessage            `json:"before"`
	Oplog         json.RawMessage            `json:"oplog"`
	After         json.RawMessage            `json:"after"`
	ReplayTwice   bool                       `json:"replay_twice_same"`
	BeforeByNS    map[string]json.RawMessage `json:"before_by_ns"`
	AfterByNS     map[string]json.RawMessage `json:"after_by_ns"`
	BeforeColls   map[string]json.RawMessage `json:"before_collections"`
	BeforeIndexes map[string]json.RawMessage `json:"before_indexes"`
	AfterIndexes  json.RawMessage            `json:"after_indexes"`
	AfterColls    *struct {
		Present []string `json:"present"`
		Absent  []string `json:"absent"`
	} `json:"after_collections"`
	AfterAbsentIDs map[string]json.RawMessage `json:"after_absent_ids"`
	ExpectErrorOK  bool                       `json:"expect_error_ok"`
	MongodExact    bool                       `json:"mongod_applier_exact"`
}

// confDir holds the conformance cases: cases.json (refreshed from
// ../shared by make test), the project's own local.json (optional) and
// skips.txt.
func confDir() string { return filepath.Join(testmongo.RepoRoot(), "testdata", "conformance") }

// caseFile is one file of cases and how many it holds.
type caseFile struct {
	name string
	n    int
}

// loadCases reads the cases of confDir (see readCases).
func loadCases(t *testing.T) ([]confCase, []caseFile) {
	cs, files, err := readCases(confDir())
	if err != nil {
		t.Fatal(err)
	}
	return cs, files
}

// readCases reads dir's cases.json and, when present, local.json; case
// names are unique across both.
func readCases(dir string) ([]confCase, []caseFile, error) {
	var all []confCase
	var files []caseFile
	seen := map[string]string{}
	for _, name := range []string{"cases.json", "local.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) && name != "cases.json" {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("conformance cases: %w", err)
		}
		var cs []confCase
		if err := json.Unmarshal(b, &cs); err != nil {
			return nil, nil, fmt.Errorf("conformance cases %s: %w", name, err)
		}
		for _, c := range cs {
			if c.Name == "" {
				return nil, nil, fmt.Errorf("%s: a case without a name", name)
			}
			if prev, dup := seen[c.Name]; dup {
				return nil, nil, fmt.Errorf("conformance case %q is in %s and in %s: names must be unique", c.Name, prev, name)
			}
			seen[c.Name] = name
		}
		all = append(all, cs...)
		files = append(files, caseFile{name, len(cs)})
	}
	return all, files, nil
}

// readSkips reads a skip list (skips.txt): the cases the test server
// cannot run, each with its reason.
func readSkips(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("conformance skip list: %w", err)
	}
	skips := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, "\t")
		if !ok || name == "" || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s line %d: want <case name><TAB><reason>, got %q", path, i+1, line)
		}
		if _, dup := skips[name]; dup {
			return nil, fmt.Errorf("%s line %d: %s is listed twice", path, i+1, name)
		}
		skips[name] = reason
	}
	return skips, nil
}

// skipVerdict judges a case's outcome against the skip list: reason is
// why the server could not run it ("" when it ran), listed/isListed its
// line in skips.txt, real whether the destination is a real MongoDB (the
// list does not apply), failed whether it failed. It says whether the
// case is a skip, and what is wrong ("" when nothing is).
func skipVerdict(reason, listed string, isListed, real, failed bool) (skip bool, wrong string) {
	switch {
	case reason != "" && (real || isListed):
		return true, ""
	case reason != "":
		return false, "the test server cannot run this case and testdata/conformance/skips.txt does not list it: " + reason
	case isListed && !real && !failed:
		return false, "skips.txt lists this case (" + listed + ") but it passes now: remove its line"
	}
	return false, ""
}

// docs decodes a canonical Extended JSON array of documents.
func docs(t *testing.T, raw json.RawMessage) []bson.Raw {
	if len(raw) == 0 {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatal(err)
	}
	out := make([]bson.Raw, len(items))
	for i, it := range items {
		if err := bson.UnmarshalExtJSON(it, true, &out[i]); err != nil {
			t.Fatalf("ext json %s: %v", it, err)
		}
	}
	return out
}

func doc(t *testing.T, raw json.RawMessage) bson.Raw {
	var d bson.Raw
	if err := bson.UnmarshalExtJSON(raw, true, &d); err != nil {
		t.Fatalf("ext json %s: %v", raw, err)
	}
	return d
}

// notSupported reports a destination that cannot express what a case needs.
func notSupported(err error) bool {
	var se mongo.ServerError
	if err == nil {
		return false
	}
	if errors.As(err, &se) && (se.HasErrorCode(238) || se.HasErrorCode(115)) {
		return true
	}
	s := err.Error()
	// "'update.updates.u' is the wrong type 'array'": no pipeline updates
	// (MongoDB has them since 4.2), which replacements by documents with
	// top-level $-prefixed names need.
	return strings.Contains(s, "'update.updates.u' is the wrong type 'array'") || strings.Contains(s, "NotImplemented") || strings.Contains(s, "must not start with '$'") || strings.Contains(s, "nested arrays are not supported") || strings.Contains(s, "Invalid namespace specified") || strings.Contains(s, "not implemented") || strings.Contains(s, "CommandNotFound") || strings.Contains(s, "no such command")
}

// TestConformance replays every case through the real pipeline. Against
// the test server the cases it cannot run are pinned by skips.txt: an
// unlisted skip fails, and so does a listed case that passes. Against a
// MongoDB (MONGO_SYNC_TEST_DST naming one that is no test server) the list does not apply.
func TestConformance(t *testing.T) {
	cases, files := loadCases(t)
	skips, err := readSkips(filepath.Join(confDir(), "skips.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dst := testmongo.StartDest(t)
	real := !dst.TestServer // skips.txt holds for test servers, also those make test-real is pointed at
	if !real {
		names := map[string]bool{}
		for _, c := range cases {
			names[c.Name] = true
		}
		for name := range skips {
			if !names[name] {
				t.Errorf("skips.txt lists %s, which is no conformance case: remove its line", name)
			}
		}
	}
	client := dst.Client()
	var passed, skipped, failed []string
	for _, c := range cases {
		ran, reason := false, ""
		ok := t.Run(c.Name, func(t *testing.T) {
			ran = true
			reason = runCase(t, client, c)
			listed, isListed := skips[c.Name]
			skip, wrong := skipVerdict(reason, listed, isListed, real, t.Failed())
			if wrong != "" {
				t.Error(wrong)
			}
			if skip {
				t.Skip(reason)
			}
		})
		switch {
		case !ran: // filtered out by -run
		case !ok:
			failed = append(failed, c.Name)
		case reason != "":
			skipped = append(skipped, c.Name+": "+reason)
		default:
			passed = append(passed, c.Name)
		}
	}
	for _, s := range skipped {
		fmt.Printf("conformance skipped: %s\n", s)
	}
	if real && len(skipped) > 0 {
		fmt.Printf("conformance: %d cases skipped on a real MongoDB, which should skip none (skips.txt does not apply)\n", len(skipped))
	}
	for _, f := range failed {
		fmt.Printf("conformance failed: %s\n", f)
	}
	per := make([]string, len(files))
	for i, f := range files {
		per[i] = fmt.Sprintf("%s %d", f.name, f.n)
	}
	fmt.Printf("conformance: %d cases (%s), %d run, %d passed, %d failed, %d skipped (%d listed in skips.txt)\n",
		len(cases), strings.Join(per, ", "), len(passed)+len(failed)+len(skipped), len(passed), len(failed), len(skipped), len(skips))
}

// runCase runs one case; it returns a reason when the server cannot express it.
func runCase(t *testing.T, client *mongo.Client, c confCase) string {
	if reason := runRounds(t, client, c, 1000); reason != "" {
		return reason
	}
	// Again with every entry a batch of its own: each batch is read into
	// the memory of the one before (spool.Reader.Release), so an op kept
	// past its batch without a copy would show here.
	if reason := runRounds(t, client, c, 1); reason != "" {
		t.Errorf("in batches of one entry: %s (in batches of 1000 it ran)", reason)
	}
	return ""
}

// runRounds runs the case from a fresh destination, reading the spool in
// batches of batchOps entries.
func runRounds(t *testing.T, client *mongo.Client, c confCase, batchOps int) string {
	ctx := context.Background()
	resetServer(t, client)
	if reason := setup(t, client, c); reason != "" {
		return reason
	}
	oplog := docs(t, c.Oplog)
	for round := 1; round <= 2; round++ {
		label := fmt.Sprintf("round %d (batches of %d)", round, batchOps)
		spoolDir := spoolOplog(t, oplog)
		err := runApplierBatches(t, client, spoolDir, filepath.Join(filepath.Dir(spoolDir), "state.db"),
			func(*store.Store) *translate.Translator { return translate.NewTranslator(nil) }, batchOps)
		if notSupported(err) {
			return fmt.Sprintf("the test server cannot run what %s needs: %v", label, err)
		}
		if err != nil && !c.ExpectErrorOK {
			t.Fatalf("%s: %v", label, err)
		}
		check(t, ctx, client, c, label)
		if !c.ReplayTwice {
			break
		}
	}
	return ""
}

// resetServer drops the databases tests write. mongo-sync's reserved
// database stays: on a deployment make test-real names, one left by an
// earlier run is not this test's to drop (internal/testmongo/real.go), and
// the test's own cleanup drops one the test created.
func resetServer(t *testing.T, client *mongo.Client) {
	ctx := context.Background()
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n != "admin" && n != "local" && n != "config" && n != config.ReservedDB {
			if err := client.Database(n).Drop(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func setup(t *testing.T, client *mongo.Client, c confCase) string {
	ctx := context.Background()
	for ns, opts := range c.BeforeColls {
		db, coll := config.SplitNS(ns)
		cmd := bson.D{{Key: "create", Value: coll}}
		o := doc(t, opts)
		els, _ := o.Elements()
		for _, e := range els {
			cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
		}
		if err := client.Database(db).RunCommand(ctx, cmd).Err(); err != nil {
			if notSupported(err) {
				return fmt.Sprintf("the test server cannot create %s with %s: %v", ns, o, err)
			}
			t.Fatalf("setup create %s: %v", ns, err)
		}
	}
	insert := func(ns string, ds []bson.Raw) string {
		db, coll := config.SplitNS(ns)
		for _, d := range ds {
			if _, err := client.Database(db).Collection(coll).InsertOne(ctx, d); err != nil {
				if notSupported(err) {
					return fmt.Sprintf("the test server cannot store %s: %v", d, err)
				}
				t.Fatalf("setup insert into %s: %v", ns, err)
			}
		}
		return ""
	}
	if r := insert(c.NS, docs(t, c.Before)); r != "" {
		return r
	}
	for ns, ds := range c.BeforeByNS {
		if r := insert(ns, docs(t, ds)); r != "" {
			return r
		}
	}
	for ns, specs := range c.BeforeIndexes {
		db, coll := config.SplitNS(ns)
		arr := bson.A{}
		for _, s := range docs(t, specs) {
			arr = append(arr, s)
		}
		err := client.Database(db).RunCommand(ctx, bson.D{{Key: "createIndexes", Value: coll}, {Key: "indexes", Value: arr}}).Err()
		if notSupported(err) {
			return fmt.Sprintf("the test server cannot build index %v: %v", arr, err)
		}
		if err != nil {
			t.Fatalf("setup index on %s: %v", ns, err)
		}
	}
	return ""
}

func quietLog() logrus.FieldLogger { return testlog.Quiet() }

// replay runs the real pipeline: oplog.bson -> reader -> spool -> applier.
func replay(t *testing.T, client *mongo.Client, oplog []bson.Raw) error {
	spoolDir := spoolOplog(t, oplog)
	return applyAll(t, client, spoolDir, filepath.Join(filepath.Dir(spoolDir), "state.db"))
}

// spoolOplog writes oplog to an oplog.bson file and reads it into a fresh
// spool with the reader; it returns the spool's directory.
func spoolOplog(t *testing.T, oplog []bson.Raw) string {
	ctx := context.Background()
	dir := t.TempDir()
	f := filepath.Join(dir, "oplog.bson")
	var buf []byte
	for _, e := range oplog {
		buf = append(buf, e...)
	}
	if err := os.WriteFile(f, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	spoolDir := filepath.Join(dir, "spool")
	w, err := spool.OpenWriter(spoolDir, spool.Options{Source: "file", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	rd := &reader.Reader{W: w, Source: reader.FileSource{Path: f}, Filter: reader.Filter{}, EndWhenDone: true, Log: quietLog()}
	if err := rd.Run(ctx); err != nil {
		t.Fatalf("reader: %v", err)
	}
	w.Close()
	return spoolDir
}

func applyAll(t *testing.T, client *mongo.Client, spoolDir, statePath string) error {
	return runApplier(t, client, spoolDir, statePath, func(*store.Store) *translate.Translator { return translate.NewTranslator(nil) })
}

// runApplier drains spoolDir into client with the state file at statePath
// and the translator translator makes for that state file, until the
// ended spool is applied or the applier stops.
func runApplier(t *testing.T, client *mongo.Client, spoolDir, statePath string, translator func(*store.Store) *translate.Translator) error {
	return runApplierBatches(t, client, spoolDir, statePath, translator, 1000)
}

// runApplierBatches is runApplier reading batches of batchOps entries.
func runApplierBatches(t *testing.T, client *mongo.Client, spoolDir, statePath string, translator func(*store.Store) *translate.Translator, batchOps int) error {
	err := drain(context.Background(), client, spoolDir, statePath, translator, batchOps)
	var open openError
	if errors.As(err, &open) {
		t.Fatal(err)
	}
	return err
}

// openError is a spool or state file drain could not open.
type openError struct{ error }

// drain is runApplierBatches for a caller without a test: the applier
// process of the kill -9 test (killnine_test.go).
func drain(ctx context.Context, client *mongo.Client, spoolDir, statePath string, translator func(*store.Store) *translate.Translator, batchOps int) error {
	sr, err := spool.OpenReader(spoolDir)
	if err != nil {
		return openError{err}
	}
	defer sr.Close()
	st, err := store.Open(statePath)
	if err != nil {
		return openError{err}
	}
	defer st.Close()
	a := &Applier{Spool: sr, SpoolDir: spoolDir, Store: st, Translator: translator(st),
		Exec:     &exec.Executor{Client: client, Workers: 4, BulkSize: 20, Log: quietLog()},
		BatchOps: batchOps, BatchBytes: 16 << 20, ExitWhenDrained: true, LogInterval: 1 << 62, Log: quietLog()}
	return a.Run(ctx)
}

func check(t *testing.T, ctx context.Context, client *mongo.Client, c confCase, round string) {
	t.Helper()
	fieldOrder := false
	for _, tag := range c.Tags {
		fieldOrder = fieldOrder || tag == "field-order"
	}
	compareNS(t, ctx, client, c.NS, docs(t, c.After), fieldOrder, round)
	for ns, want := range c.AfterByNS {
		compareNS(t, ctx, client, ns, docs(t, want), fieldOrder, round)
	}
	for ns, ids := range c.AfterAbsentIDs {
		db, coll := config.SplitNS(ns)
		for _, id := range docs(t, wrapIDs(t, ids)) {
			n, err := client.Database(db).Collection(coll).CountDocuments(ctx, bson.D{{Key: "_id", Value: id.Lookup("_id")}})
			if err != nil {
				t.Fatalf("%s: count _id %s in %s: %v", round, id.Lookup("_id"), ns, err)
			}
			if n != 0 {
				t.Errorf("%s: %s still holds _id %s", round, ns, id.Lookup("_id"))
			}
		}
	}
	if c.AfterColls != nil {
		for _, ns := range c.AfterColls.Present {
			if !collExists(t, ctx, client, ns) {
				t.Errorf("%s: collection %s missing", round, ns)
			}
		}
		for _, ns := range c.AfterColls.Absent {
			if collExists(t, ctx, client, ns) {
				t.Errorf("%s: collection %s should not exist", round, ns)
			}
		}
	}
	if len(c.AfterIndexes) > 0 {
		checkIndexes(t, ctx, client, c, round)
	}
}

func wrapIDs(t *testing.T, ids json.RawMessage) json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal(ids, &items); err != nil || len(items) == 0 {
		t.Fatalf("after_absent_ids %s: %v (want a non-empty list)", ids, err)
	}
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = `{"_id":` + string(it) + `}`
	}
	return json.RawMessage("[" + strings.Join(parts, ",") + "]")
}

// collExists reports whether ns exists; a failed listing fails the test
// (an error is not an absent collection).
func collExists(t *testing.T, ctx context.Context, client *mongo.Client, ns string) bool {
	t.Helper()
	db, coll := config.SplitNS(ns)
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil {
		t.Fatalf("list collections of %s: %v", db, err)
	}
	return len(names) > 0
}

func compareNS(t *testing.T, ctx context.Context, client *mongo.Client, ns string, want []bson.Raw, fieldOrder bool, round string) {
	t.Helper()
	db, coll := config.SplitNS(ns)
	cur, err := client.Database(db).Collection(coll).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.Raw
	for cur.Next(ctx) {
		got = append(got, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		t.Fatalf("%s: read %s: %v", round, ns, err)
	}
	cur.Close(ctx)
	gs, ws := canon(t, got, fieldOrder), canon(t, want, fieldOrder)
	if strings.Join(gs, "\n") != strings.Join(ws, "\n") {
		t.Errorf("%s: %s differs\n got: %s\nwant: %s", round, ns, strings.Join(gs, "\n      "), strings.Join(ws, "\n      "))
	}
}

// canon renders documents as canonical Extended JSON (types kept), with
// keys sorted unless field order matters; sorted by that rendering.
func canon(t *testing.T, ds []bson.Raw, fieldOrder bool) []string {
	t.Helper()
	out := make([]string, len(ds))
	for i, d := range ds {
		var v bson.D
		if err := bson.Unmarshal(d, &v); err != nil {
			t.Fatalf("decode %s: %v", d, err)
		}
		out[i] = bsonx.CanonicalD(v, !fieldOrder)
	}
	sort.Strings(out)
	return out
}

func checkIndexes(t *testing.T, ctx context.Context, client *mongo.Client, c confCase, round string) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(c.AfterIndexes, &want); err != nil {
		// a plain list for c.NS
		want = map[string]json.RawMessage{c.NS: c.AfterIndexes}
	}
	for ns, specs := range want {
		db, coll := config.SplitNS(ns)
		cur, err := client.Database(db).Collection(coll).Indexes().List(ctx)
		if err != nil {
			t.Errorf("%s: list indexes of %s: %v", round, ns, err)
			continue
		}
		have := map[string]bson.Raw{}
		for cur.Next(ctx) {
			name, _ := cur.Current.Lookup("name").StringValueOK()
			have[name] = append(bson.Raw(nil), cur.Current...)
		}
		if err := cur.Err(); err != nil {
			t.Fatalf("%s: list indexes of %s: %v", round, ns, err)
		}
		cur.Close(ctx)
		ws := docs(t, specs)
		if len(ws) != len(have) {
			t.Errorf("%s: %s has %d indexes, want %d", round, ns, len(have), len(ws))
		}
		for _, w := range ws {
			name, _ := w.Lookup("name").StringValueOK()
			h, ok := have[name]
			if !ok {
				t.Errorf("%s: index %s missing on %s", round, name, ns)
				continue
			}
			els, _ := w.Elements()
			for _, e := range els {
				if !sameValue(h.Lookup(e.Key()), e.Value()) {
					t.Errorf("%s: index %s.%s = %s, want %s", round, name, e.Key(), h.Lookup(e.Key()), e.Value())
				}
			}
		}
	}
}

// sameValue compares numbers by value and everything else exactly.
func sameValue(a, b bson.RawValue) bool {
	if fa, ok := bsonx.Number(a); ok {
		fb, ok := bsonx.Number(b)
		return ok && fa == fb
	}
	if da, ok := a.DocumentOK(); ok {
		db, ok := b.DocumentOK()
		if !ok {
			return false
		}
		ea, _ := da.Elements()
		eb, _ := db.Elements()
		if len(ea) != len(eb) {
			return false
		}
		for i := range ea {
			if ea[i].Key() != eb[i].Key() || !sameValue(ea[i].Value(), eb[i].Value()) {
				return false
			}
		}
		return true
	}
	return a.Equal(b)
}
