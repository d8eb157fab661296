package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
)

// checkJSON runs `mongo-sync check --json` and returns its parsed stdout
// (stderr apart) and exit code.
func checkJSON(t *testing.T, conf string) ([]map[string]string, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "check", "-f", conf, "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("check --json printed no JSON array (%v):\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return out, code, stderr.String()
}

// `check` exits 0 on a clean setup and 1 once a check fails (here a
// non-empty destination collection), and --json is an array of {check,
// status, detail, do}; the text form has one line per check.
func TestCheck_ExitCodeAndJSON(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	insertPosts(t, src.Client(), "blog", 20)
	conf := testsync.WriteConfig(t, t.TempDir(), src.URI, dst.URI, "")

	res, code, stderr := checkJSON(t, conf)
	if code != 0 {
		t.Fatalf("clean setup: exit %d\n%v\n%s", code, res, stderr)
	}
	seen := map[string]string{}
	for _, r := range res {
		if r["check"] == "" || r["status"] == "" {
			t.Errorf("a result without check or status: %v", r)
		}
		seen[r["check"]] = r["status"]
	}
	for _, c := range []string{"source.reachable", "destination.reachable", "source.oplog.window", "source.selection", "destination.empty", "copy.estimate"} {
		if seen[c] != "ok" {
			t.Errorf("%s: %q, want ok", c, seen[c])
		}
	}
	text, err := run(t, "check", "-f", conf)
	if err != nil {
		t.Fatalf("check (text): %v\n%s", err, text)
	}
	if n := strings.Count(strings.TrimSpace(text), "\n") + 1; n != len(res) {
		t.Errorf("text has %d lines, JSON %d results:\n%s", n, len(res), text)
	}

	insertPosts(t, dst.Client(), "blog", 2)
	res, code, stderr = checkJSON(t, conf)
	if code != 1 {
		t.Fatalf("non-empty destination: exit %d, want 1\n%v", code, res)
	}
	if !strings.Contains(stderr, "checks failed") {
		t.Errorf("stderr does not say checks failed: %s", stderr)
	}
	found := false
	for _, r := range res {
		if r["check"] == "destination.empty" && r["status"] == "fail" && strings.Contains(r["detail"], "blog.posts holds 2 documents") && r["do"] != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("no destination.empty fail naming blog.posts: %v", res)
	}
}
