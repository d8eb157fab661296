package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// runIn runs mongo-sync to completion in the working directory dir.
func runIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// snapshot lists every file and directory under dir with its size, mode
// and modification time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%d %v %s", fi.Size(), fi.Mode(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, a := range after {
		if b, ok := before[p]; !ok {
			t.Errorf("%s created %s", what, p)
		} else if a != b {
			t.Errorf("%s changed %s: %s -> %s", what, p, b, a)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s removed %s", what, p)
		}
	}
}

// TestReadOnlyCommands_WriteNothing: status, spool stat, spool dump and
// verify create no file or directory where nothing has started (and say
// "not started"), change nothing in an existing state file and spool, and
// status does not hang behind a process that holds the state file.
func TestReadOnlyCommands_WriteNothing(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)

	t.Run("nothing started", func(t *testing.T) {
		dir := t.TempDir() // the defaults are mongo-sync-data/{spool,state.db} here
		for _, tc := range []struct {
			args    []string
			want    []string
			failing bool // exits 1: nothing to do
		}{
			{[]string{"status"}, []string{"stage:            not started", "applier:          not started", "reader:           not started"}, false},
			{[]string{"status", "--json"}, []string{`"stage": "not started"`, `"state_file_missing": "mongo-sync-data/state.db"`, `"spool_missing": "mongo-sync-data/spool"`}, false},
			{[]string{"spool", "stat"}, []string{"not started"}, false},
			{[]string{"spool", "stat", "--json"}, []string{`"not_started": true`}, false},
			{[]string{"spool", "dump"}, []string{"not started"}, true},
			{[]string{"verify", "--src", src.URI, "--dst", dst.URI}, []string{"verify: 0 namespaces"}, false},
		} {
			out, err := runIn(t, dir, tc.args...)
			if (err != nil) != tc.failing {
				t.Errorf("%v: exit %v\n%s", tc.args, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v: no %q in\n%s", tc.args, w, out)
				}
			}
			sameSnapshot(t, strings.Join(tc.args, " "), map[string]string{}, snapshot(t, dir))
		}
	})

	t.Run("existing state and spool", func(t *testing.T) {
		dir := t.TempDir()
		sp, statePath := filepath.Join(dir, "spool"), filepath.Join(dir, "state.db")
		if out, err := run(t, "reader", "--spool-dir", sp, "--src-file", oplogFile(t, dir, 10)); err != nil {
			t.Fatalf("reader: %v\n%s", err, out)
		}
		st, err := store.Open(statePath)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetCheckpoint(store.Checkpoint{Seq: 4, TS: bson.Timestamp{T: 1700000000, I: 4}}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		time.Sleep(20 * time.Millisecond) // a write by a command would show in the mtime
		flags := []string{"--spool-dir", sp, "--store", statePath}
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"status"}, "applied up to:    seq 4"},
			{[]string{"status", "--json"}, `"applied_seq": 4`},
			{[]string{"spool", "stat"}, "reader running: false"},
			{[]string{"spool", "dump"}, `"seq":1`},
		} {
			before := snapshot(t, dir)
			out, err := runIn(t, dir, append(tc.args, flags...)...)
			if err != nil || !strings.Contains(out, tc.want) {
				t.Errorf("%v: %v, want %q in\n%s", tc.args, err, tc.want, out)
			}
			sameSnapshot(t, strings.Join(tc.args, " "), before, snapshot(t, dir))
		}
	})

	t.Run("state file held by a running process", func(t *testing.T) {
		dir := t.TempDir()
		statePath := filepath.Join(dir, "state.db")
		st, err := store.Open(statePath)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		began := time.Now()
		out, err := runIn(t, dir, "status", "--store", statePath, "--spool-dir", filepath.Join(dir, "spool"))
		if err != nil || !strings.Contains(out, "holds the state file") || time.Since(began) > 30*time.Second {
			t.Fatalf("status beside a running process: %v after %s\n%s", err, time.Since(began), out)
		}
		if _, err := os.Stat(filepath.Join(dir, "spool")); err == nil {
			t.Fatal("status created the spool directory")
		}
	})
}
