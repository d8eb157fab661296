package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "conf.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_PyMongoSyncFileAsIs(t *testing.T) {
	c, err := Load("testdata/py-mongo-sync.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Src.ConnString(); got != "mongodb://yourusername:yourpassword@127.0.0.1:27017/?authSource=admin" {
		t.Errorf("src uri %s", got)
	}
	if got := c.DstMongo().Redacted(); got != "mongodb://yourusername:***@127.0.0.1:27018/?authSource=admin" {
		t.Errorf("dst redacted %s", got)
	}
	if c.Sync.StartOptime == nil || c.Sync.StartOptime.T != 1500000000 {
		t.Errorf("start_optime %v", c.Sync.StartOptime)
	}
	if c.Log.Filepath != "sync.log" {
		t.Errorf("log.filepath %q", c.Log.Filepath)
	}
	n := c.Namespaces()
	cases := []struct {
		db, coll string
		want     bool
	}{
		{"test0", "anything", true}, {"test1", "coll0", true}, {"test1", "coll9", false},
		{"test3", "coll3", true}, {"other", "x", false}, {"test0", "system.users", false},
	}
	for _, tc := range cases {
		if got := n.Selected(tc.db, tc.coll); got != tc.want {
			t.Errorf("Selected(%s.%s) = %v", tc.db, tc.coll, got)
		}
	}
	if got := n.MapNS("test2.c"); got != "test22.c" {
		t.Errorf("MapNS(test2.c) = %s", got)
	}
	if got := n.Fields("test3.coll3"); strings.Join(got, ",") != "a,b.c" {
		t.Errorf("Fields(test3.coll3) = %v", got)
	}
	if n.Fields("test3.coll2") != nil {
		t.Error("coll2 has no projection")
	}
}

// TestLoad_PyMongoSyncForms loads every form py-mongo-sync's README and
// example files (mongo_conf.toml, es_conf.toml and v2's conf_example.toml)
// use. Inline tables spread over lines with a trailing comma are TOML 1.1;
// BurntSushi/toml v1.6 parses them, and this test pins that.
func TestLoad_PyMongoSyncForms(t *testing.T) {
	const dstMongo = "[dst]\ntype = \"mongo\" # could be \"mongo\" or \"es\"\n[dst.mongo]\nhosts = \"127.0.0.1:27018\"\n"
	const esTable = "[dst.es]\nhosts = [\n    \"es1:9200\",\n    \"es2:9200\"\n]\n"
	cases := []struct {
		name     string
		body     string
		selected []string // db.coll that must be synced
		skipped  []string // db.coll that must not be
		renamed  map[string]string
		fields   map[string]string // ns -> comma-joined fields
		warn     string            // a warning must mention it ("" = no warning)
	}{
		{
			name:     "dst.es beside type mongo (v2 conf_example)",
			body:     "[src]\nhosts = \"127.0.0.1:27017\"\n" + dstMongo + esTable + "[sync]\n[[sync.dbs]]\ndb = \"test\"\n",
			selected: []string{"test.any"}, skipped: []string{"other.any"},
			warn: "dst.es",
		},
		{
			name:     "dst.es without a type",
			body:     "[dst]\nhosts = \"h:1\"\n" + esTable,
			selected: []string{"a.b"},
			warn:     "dst.es",
		},
		{
			name: "arrays of tables (v2 conf_example, es_conf)",
			body: dstMongo + `
[sync]

# a whole database
[[sync.dbs]]
db = "test"

[[sync.dbs]]
db = "test0"
rename_db = "renamed_test0"

[[sync.dbs]]
db = "test2"
rename_db = "test22"
colls = [ "coll0", "coll1" ]
`,
			selected: []string{"test.x", "test0.y", "test2.coll0", "test2.coll1"},
			skipped:  []string{"test2.coll9", "other.x"},
			renamed:  map[string]string{"test0.y": "renamed_test0.y", "test2.coll1": "test22.coll1", "test.x": "test.x"},
		},
		{
			name: "inline tables over several lines with trailing commas (v2 conf_example)",
			body: dstMongo + `
[[sync.dbs]]
db = "test1"
rename_db = "renamed_test1"
colls = [
    {
        coll = "coll1",
    }
]

[[sync.dbs]]
db = "test2"
colls = [
    {
        coll = "coll2",
        fields = ["field1", "field2"]
    }
]
#start_optime = 1533526042
`,
			selected: []string{"test1.coll1", "test2.coll2"},
			skipped:  []string{"test1.coll2", "test2.coll1"},
			renamed:  map[string]string{"test1.coll1": "renamed_test1.coll1"},
			fields:   map[string]string{"test2.coll2": "field1,field2", "test1.coll1": ""},
		},
		{
			name: "multi-line fields list (es_conf)",
			body: `
[[sync.dbs]]
db = "test3"
rename_db = "test33"
colls = [
    { coll = "coll2", fields = [ "f0", "f1" ] },
    { coll = "coll3", fields = [ "f2", "f3" ] }
]
`,
			selected: []string{"test3.coll2", "test3.coll3"},
			renamed:  map[string]string{"test3.coll3": "test33.coll3"},
			fields:   map[string]string{"test3.coll2": "f0,f1", "test3.coll3": "f2,f3"},
		},
		{
			name: "inline array with comments between entries, dst keys directly (mongo_conf)",
			body: `
[dst]
hosts = "127.0.0.1:27018" # hostportstr
authdb = "admin"
username = "u"
password = "p"
[sync]
dbs =  [
    # a database
    { db = "test0" },

    # some collections
    { db = "test1", colls = [ "coll0", "coll1" ] },

    # renamed
    { db = "test3", rename_db = "test33", colls = [ "coll2", "coll3" ] }
]
start_optime = 1533526042
[log]
filepath = "sync.log" # write to stdout if empty or not set
`,
			selected: []string{"test0.a", "test1.coll0", "test3.coll3"},
			skipped:  []string{"test1.coll2", "test3.coll0"},
			renamed:  map[string]string{"test3.coll2": "test33.coll2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			n := c.Namespaces()
			for _, ns := range tc.selected {
				db, coll, _ := strings.Cut(ns, ".")
				if !n.Selected(db, coll) {
					t.Errorf("%s not selected", ns)
				}
			}
			for _, ns := range tc.skipped {
				db, coll, _ := strings.Cut(ns, ".")
				if n.Selected(db, coll) {
					t.Errorf("%s selected", ns)
				}
			}
			for from, to := range tc.renamed {
				if got := n.MapNS(from); got != to {
					t.Errorf("MapNS(%s) = %s, want %s", from, got, to)
				}
			}
			for ns, want := range tc.fields {
				if got := strings.Join(n.Fields(ns), ","); got != want {
					t.Errorf("Fields(%s) = %q, want %q", ns, got, want)
				}
			}
			w := strings.Join(c.Warnings(), "\n")
			switch {
			case tc.warn == "" && w != "":
				t.Errorf("unexpected warning %q", w)
			case tc.warn != "" && !strings.Contains(w, tc.warn):
				t.Errorf("warnings %q do not name %s", w, tc.warn)
			}
		})
	}
}

func TestLoad_OldDstForm(t *testing.T) {
	c, err := Load(writeConfig(t, "[src]\nhosts = \"rs0/a:1,b:2\"\n[dst]\nhosts = \"c:3\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Src.ConnString(); got != "mongodb://a:1,b:2/?replicaSet=rs0" {
		t.Errorf("src uri %s", got)
	}
	if got := c.DstMongo().ConnString(); got != "mongodb://c:3/" {
		t.Errorf("dst uri %s", got)
	}
}

func TestLoad_Defaults(t *testing.T) {
	c, err := Load(writeConfig(t, "[src]\nuri = \"mongodb://h:1/\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Applier.Workers != 8 || c.Spool.SegmentMaxBytes != 64<<20 || c.Spool.SealInterval.D() != time.Second || c.Reader.BatchSize != 1000 {
		t.Errorf("defaults not applied: %+v %+v", c.Applier, c.Spool)
	}
}

func TestLoad_NewSections(t *testing.T) {
	c, err := Load(writeConfig(t, `
[spool]
dir = "/var/lib/ms/spool"
segment_max_bytes = "16MiB"
max_bytes = "1GiB"
seal_interval = "250ms"
retention = "24h"
[applier]
workers = 4
bulk_size = 50
[reader]
batch_size = 500
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Spool.SegmentMaxBytes != 16<<20 || c.Spool.MaxBytes != 1<<30 || c.Spool.Retention.D() != 24*time.Hour ||
		c.Applier.Workers != 4 || c.Applier.BulkSize != 50 || c.Reader.BatchSize != 500 {
		t.Errorf("decoded %+v %+v %+v", c.Spool, c.Applier, c.Reader)
	}
}

func TestLoad_BadInput(t *testing.T) {
	cases := []struct {
		name, body string
		wantAll    []string // every one must appear in the error
	}{
		{"unknown key", "[src]\nhosts = \"h:1\"\nhostz = \"x\"\n", []string{"unknown key", "src.hostz"}},
		{"unknown section", "[spoool]\ndir = \"x\"\n", []string{"unknown key", "spoool"}},
		{"wrong type", "[applier]\nworkers = \"eight\"\n", []string{"workers"}},
		{"bad toml", "[src\nhosts=1", []string{"conf.toml"}},
		{"zero workers", "[applier]\nworkers = -1\n", []string{"applier.workers", "at least 1"}},
		{"bulk over a write command", "[applier]\nbulk_size = 100001\n", []string{"applier.bulk_size", "100000"}},
		{"copy batch over a write command", "[copy]\nbatch_docs = 200000\n", []string{"copy.batch_docs", "100000"}},
		{"bad duration", "[spool]\nseal_interval = \"soon\"\n", []string{"seal_interval", "not a duration"}},
		{"bad size", "[spool]\nmax_bytes = \"lots\"\n", []string{"max_bytes", "not a size"}},
		{"cap below segments", "[spool]\nmax_bytes = \"1MiB\"\nsegment_max_bytes = \"1MiB\"\n", []string{"spool.max_bytes", "twice"}},
		{"uri and hosts", "[src]\nuri = \"mongodb://h/\"\nhosts = \"h:1\"\n", []string{"src", "not both"}},
		{"not a uri", "[src]\nuri = \"http://h/\"\n", []string{"src.uri", "not a mongodb:// URI"}},
		{"bad uri option", "[dst]\nuri = \"mongodb://u:secret@h/?connectTimeoutMS=abc\"\n", []string{"dst.uri"}},
		{"dst both forms", "[dst]\nhosts = \"a:1\"\n[dst.mongo]\nhosts = \"b:1\"\n", []string{"dst", "not both"}},
		{"es destination", "[dst]\ntype = \"es\"\n", []string{"dst.type", "not supported"}},
		{"es file (es_conf)", "[dst]\ntype = \"es\"\nhosts = [\n  \"es1:9200\",\n  \"es2:9200\"\n]\n", []string{"dst.type", "not supported"}},
		{"es table with an es type", "[dst]\ntype = \"es\"\n[dst.es]\nhosts = [\"es1:9200\"]\n", []string{"dst.type", "not supported"}},
		{"empty db", "[sync]\ndbs = [{db = \"\"}]\n", []string{"sync.dbs[0].db", "empty"}},
		{"internal db", "[sync]\ndbs = [{db = \"admin\"}]\n", []string{"sync.dbs[0].db", "internal"}},
		{"dup db", "[sync]\ndbs = [{db = \"a\"}, {db = \"a\"}]\n", []string{"sync.dbs[1].db", "twice"}},
		{"star with fields", "[sync]\ndbs = [{db = \"a\", colls = [{coll = \"*\", fields = [\"x\"]}]}]\n", []string{"fields", "*"}},
		{"coll wrong type", "[sync]\ndbs = [{db = \"a\", colls = [3]}]\n", []string{"colls"}},
		{"coll unknown key", "[sync]\ndbs = [{db = \"a\", colls = [{coll = \"c\", feilds = [\"x\"]}]}]\n", []string{"colls.feilds"}},
		{"bad optime", "[sync]\nstart_optime = \"yesterday\"\n", []string{"optime", "yesterday"}},
		{"bad log level", "[log]\nlevel = \"loud\"\n", []string{"log.level"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			_, err := Load(p)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wantAll {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
			if !strings.Contains(err.Error(), "conf.toml") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestRedactURI(t *testing.T) {
	cases := map[string]string{
		"mongodb://u:p@h:1/":                 "mongodb://u:***@h:1/",
		"mongodb+srv://user:p%40ss@c.x/db?a": "mongodb+srv://user:***@c.x/db?a",
		"mongodb://h:1/":                     "mongodb://h:1/",
		"mongodb://u@h:1/":                   "mongodb://u@h:1/",
	}
	for in, want := range cases {
		if got := RedactURI(in); got != want {
			t.Errorf("RedactURI(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseOptime(t *testing.T) {
	if o, err := ParseOptime("1700000000,7"); err != nil || o.T != 1700000000 || o.I != 7 {
		t.Errorf("T,I: %v %v", o, err)
	}
	if o, err := ParseOptime("1700000000"); err != nil || o.T != 1700000000 || o.I != 0 {
		t.Errorf("seconds: %v %v", o, err)
	}
	for _, bad := range []string{"", "0", "x", "1,y", "-5"} {
		if _, err := ParseOptime(bad); err == nil {
			t.Errorf("ParseOptime(%q) accepted", bad)
		}
	}
}
