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
