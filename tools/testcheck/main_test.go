package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Events in cmd/test2json's shape (go doc cmd/test2json: Action, Package,
// Test, Elapsed, Output), as `go test -json` prints them for a package with
// a passing test, a skipped test, a skipped subtest under a parent that
// pins its own, and a package without test files.
const events = `{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"--- PASS: TestOK (1.50s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestOK","Elapsed":1.5}
{"Action":"run","Package":"m/a","Test":"TestReal"}
{"Action":"output","Package":"m/a","Test":"TestReal","Output":"=== RUN   TestReal\n"}
{"Action":"output","Package":"m/a","Test":"TestReal","Output":"    a_test.go:9: needs a real mongos\n"}
{"Action":"output","Package":"m/a","Test":"TestReal","Output":"--- SKIP: TestReal (0.00s)\n"}
{"Action":"skip","Package":"m/a","Test":"TestReal","Elapsed":0}
{"Action":"run","Package":"m/a","Test":"TestCases"}
{"Action":"run","Package":"m/a","Test":"TestCases/one"}
{"Action":"output","Package":"m/a","Test":"TestCases/one","Output":"    c_test.go:3: the server cannot\n"}
{"Action":"skip","Package":"m/a","Test":"TestCases/one","Elapsed":0}
{"Action":"pass","Package":"m/a","Test":"TestCases","Elapsed":0.2}
{"Action":"output","Package":"m/a","Output":"ok  \tm/a\t1.8s\n"}
{"Action":"pass","Package":"m/a","Elapsed":1.8}
{"Action":"start","Package":"m/b"}
{"Action":"output","Package":"m/b","Output":"?   \tm/b\t[no test files]\n"}
{"Action":"skip","Package":"m/b","Elapsed":0}
`

func pinnedFrom(t *testing.T, text string) *pinned {
	t.Helper()
	path := filepath.Join(t.TempDir(), "skips.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := readPinned(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func breaches(t *testing.T, evs, list string) []string {
	t.Helper()
	r, err := read(strings.NewReader(evs), "m")
	if err != nil {
		t.Fatal(err)
	}
	return check(r, pinnedFrom(t, list))
}

func TestCheck_ListedSkipsPass(t *testing.T) {
	list := "# comment\na\tTestReal\tno real mongos here\na\tTestCases/*\tpinned by its own list\n"
	if bad := breaches(t, events, list); len(bad) != 0 {
		t.Fatalf("breaches: %q", bad)
	}
}

func TestCheck_Breaches(t *testing.T) {
	cases := []struct {
		name, events, list, want string
	}{
		{"a skip not listed", events, "a\tTestCases/*\tits own list\n", "a TestReal skipped and is not listed: a_test.go:9: needs a real mongos"},
		{"a subtest's skip not listed", events, "a\tTestReal\tx\n", "a TestCases/one skipped and is not listed"},
		{"a listed skip that passed", events, "a\tTestReal\tx\na\tTestCases/*\tx\na\tTestOK\tx\n", "a TestOK is listed as a skip but passed: remove its line"},
		{"a listed test that is gone", events, "a\tTestReal\tx\na\tTestCases/*\tx\na\tTestGone\tx\n", "a TestGone is listed as a skip but did not run at all"},
		{"a listed parent that is gone", events, "a\tTestReal\tx\na\tTestCases/*\tx\na\tTestOld/*\tx\n", "a TestOld is listed for its subtests' skips but did not run at all"},
		{"a failed test", strings.Replace(events, `"pass","Package":"m/a","Test":"TestOK"`, `"fail","Package":"m/a","Test":"TestOK"`, 1), "a\tTestReal\tx\na\tTestCases/*\tx\n", "a TestOK failed"},
		{"a package with tests that ran none", `{"Action":"output","Package":"m/c","Output":"ok  \tm/c\t0.1s [no tests to run]\n"}
{"Action":"pass","Package":"m/c","Elapsed":0.1}
` + events, "a\tTestReal\tx\na\tTestCases/*\tx\n", "package c has tests but ran none"},
		{"no test at all", `{"Action":"output","Package":"m/b","Output":"?   \tm/b\t[no test files]\n"}
{"Action":"skip","Package":"m/b","Elapsed":0}
`, "", "the run finished no test at all"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := breaches(t, tc.events, tc.list)
			if !strings.Contains(strings.Join(bad, "\n"), tc.want) {
				t.Fatalf("breaches %q, want one containing %q", bad, tc.want)
			}
		})
	}
}

func TestReadPinned_Malformed(t *testing.T) {
	for _, text := range []string{"a TestX why\n", "a\tTestX\n", "a\tTestX\tx\na\tTestX\ty\n"} {
		path := filepath.Join(t.TempDir(), "skips.txt")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readPinned(path); err == nil || !strings.Contains(err.Error(), "skips.txt:") {
			t.Errorf("%q: %v, want an error naming the file and line", text, err)
		}
	}
}

func TestRead_NotJSON(t *testing.T) {
	if _, err := read(strings.NewReader("=== RUN TestX\n"), "m"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("plain go test output: %v, want an error naming line 1", err)
	}
}

// A -maybe list holds skips a run may make or not: a test there that
// passed is no breach, one that is gone still is.
func TestCheck_MaybeSkips(t *testing.T) {
	r, err := read(strings.NewReader(events), "m")
	if err != nil {
		t.Fatal(err)
	}
	p := pinnedFrom(t, "a\tTestCases/*\tits own list\n")
	maybe := filepath.Join(t.TempDir(), "maybe.txt")
	if err := os.WriteFile(maybe, []byte("a\tTestReal\tlacks a mongos\na\tTestOK\tlacks a feature\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.read(maybe, true); err != nil {
		t.Fatal(err)
	}
	if bad := check(r, p); len(bad) != 0 {
		t.Fatalf("a maybe-skip that skipped and one that passed: breaches %q", bad)
	}
	if err := os.WriteFile(maybe, []byte("a\tTestGone\tx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = pinnedFrom(t, "a\tTestCases/*\tits own list\na\tTestReal\tx\n")
	if err := p.read(maybe, true); err != nil {
		t.Fatal(err)
	}
	if bad := strings.Join(check(r, p), "\n"); !strings.Contains(bad, "a TestGone is listed as a skip but did not run at all") {
		t.Fatalf("a maybe-skip that is gone: breaches %q", bad)
	}
}
