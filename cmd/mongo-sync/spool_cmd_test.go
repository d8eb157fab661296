package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// oplogFile writes n insert entries (alternating namespaces) and one update.
func oplogFile(t *testing.T, dir string, n int) string {
	t.Helper()
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		ns := "app.a"
		if i%2 == 1 {
			ns = "app.b"
		}
		raw, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}, {Key: "t", Value: int64(1)},
			{Key: "op", Value: "i"}, {Key: "ns", Value: ns}, {Key: "o", Value: bson.D{{Key: "_id", Value: i}}}})
		buf.Write(raw)
	}
	raw, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000001, I: 1}}, {Key: "t", Value: int64(1)},
		{Key: "op", Value: "u"}, {Key: "ns", Value: "app.a"}, {Key: "o", Value: bson.D{{Key: "$v", Value: 2}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "x", Value: 1}}}}}}},
		{Key: "o2", Value: bson.D{{Key: "_id", Value: 0}}}})
	buf.Write(raw)
	p := filepath.Join(dir, "oplog.bson")
	os.WriteFile(p, buf.Bytes(), 0o600)
	return p
}

func TestSpoolCommands_DumpAndStat(t *testing.T) {
	dir := t.TempDir()
	sp := filepath.Join(dir, "spool")
	if out, err := run(t, "reader", "--spool-dir", sp, "--src-file", oplogFile(t, dir, 10)); err != nil {
		t.Fatalf("reader --src-file: %v\n%s", err, out)
	}
	cases := []struct {
		args  []string
		lines int
		check string
	}{
		{nil, 11, `"op":"i"`},
		{[]string{"--ns", "app.b"}, 5, `"ns":"app.b"`},
		{[]string{"--ns", "/^app\\.(a|b)$/", "--op", "u"}, 1, `"diff"`},
		{[]string{"--from-seq", "9"}, 3, `"seq":9`},
		{[]string{"--from-ts", "1700000001"}, 1, `"op":"u"`},
		{[]string{"--limit", "2"}, 2, `"seq":1`},
	}
	for _, tc := range cases {
		out, err := run(t, append([]string{"spool", "dump", "--spool-dir", sp}, tc.args...)...)
		if err != nil {
			t.Fatalf("dump %v: %v\n%s", tc.args, err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != tc.lines || !strings.Contains(out, tc.check) {
			t.Errorf("dump %v: %d lines (want %d) containing %s:\n%s", tc.args, len(lines), tc.lines, tc.check, out)
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line["entry"] == nil {
			t.Errorf("dump %v: first line is not {seq, ts, op, ns, entry} JSON: %s", tc.args, lines[0])
		}
	}
	out, err := run(t, "spool", "stat", "--spool-dir", sp, "--json")
	if err != nil {
		t.Fatalf("stat: %v\n%s", err, out)
	}
	var st struct {
		Entries uint64 `json:"entries_sealed"`
		Ended   bool   `json:"ended"`
		Oldest  string `json:"oldest_ts"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Entries != 11 || !st.Ended || st.Oldest != "1700000000,1" {
		t.Fatalf("stat --json: %+v (%v)\n%s", st, err, out)
	}
	if out, err := run(t, "spool", "stat", "--spool-dir", sp); err != nil || !strings.Contains(out, "SEGMENT") {
		t.Fatalf("stat table: %v\n%s", err, out)
	}
}

func TestSpoolCommands_DamagedSegment(t *testing.T) {
	dir := t.TempDir()
	sp := filepath.Join(dir, "spool")
	if out, err := run(t, "reader", "--spool-dir", sp, "--src-file", oplogFile(t, dir, 10)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	segs, _ := filepath.Glob(filepath.Join(sp, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
	data, _ := os.ReadFile(segs[0])
	os.WriteFile(segs[0], data[:3*4096], 0o600) // inside the pages in use (bbolt preallocates)
	out, err := run(t, "spool", "stat", "--spool-dir", sp)
	if err == nil || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, filepath.Base(segs[0])) {
		t.Fatalf("stat on a damaged spool: %v\n%s", err, out)
	}
	out, err = run(t, "spool", "dump", "--spool-dir", sp)
	if err == nil || !strings.Contains(out, filepath.Base(segs[0])) || !strings.Contains(out, "seq 1-11") {
		t.Fatalf("dump on a damaged spool: %v\n%s", err, out)
	}
}

func TestCLI_BadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[src]\nhosts = \"h:1\"\npasword = \"x\"\n"), 0o600)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"reader", "-f", bad}, "src.pasword"},
		{[]string{"reader", "--spool-dir", dir + "/s"}, "no source"},
		{[]string{"reader", "--src", "mongodb://u:hunter2@127.0.0.1:1/?serverSelectionTimeoutMS=300", "--spool-dir", dir + "/s"}, "127.0.0.1:1"},
		{[]string{"applier", "--spool-dir", dir + "/s"}, "no destination"},
		{[]string{"applier", "--dst", "mongodb://127.0.0.1:1/?w=0&serverSelectionTimeoutMS=300", "--spool-dir", dir + "/s"}, "w:0 is not supported"},
		{[]string{"sync", "--src", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", "--dst", "mongodb://127.0.0.1:2/?serverSelectionTimeoutMS=300",
			"--spool-dir", dir + "/empty", "--store", dir + "/state.db"}, "source mongodb://127.0.0.1:1"},
		{[]string{"reader", "--start-optime", "yesterday", "--src", "h:1"}, "yesterday"},
		{[]string{"reader", "--spool-dir", dir + "/f", "--src-file", dir + "/missing.bson"}, "missing.bson"},
		{[]string{"spool", "dump", "--spool-dir", dir + "/nope"}, "nope"},
		{[]string{"reader", "--bogus-flag"}, "bogus-flag"},
	}
	for _, tc := range cases {
		out, err := run(t, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %v, want an error naming %q:\n%s", tc.args, err, tc.want, out)
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("%v: the password reached the output", tc.args)
		}
	}
}
