// Command testcheck reads the JSON events of a `go test -json` run (as
// gotestsum's --jsonfile writes them) and holds the run to what the suite
// claims: every skipped test is listed, with its reason, in a pinned file
// for the target the run was against (the test server or a real MongoDB),
// every listed skip still skips, every package with tests ran some, and
// the run ran any test at all. It prints the skips with their reasons and
// the slowest tests, and exits 1 on any breach.
//
//	go tool gotestsum --jsonfile test.json -- ./...
//	go run ./tools/testcheck -json test.json -skips testdata/skips/testserver.txt
//
// With -write it writes the run's skips as the pinned file instead (to
// review before committing: every line is a claim that the skip is right).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// test is one test's outcome in the run.
type test struct {
	pkg, name string
	action    string // pass, fail or skip
	elapsed   time.Duration
	output    []string
}

// run is what the events say.
type run struct {
	tests []*test
	// ran counts the tests (not subtests) each package finished;
	// noTests holds the packages go test reported with no test files.
	ran     map[string]int
	pkgs    map[string]string // package → its final action
	noTests map[string]bool
}

func read(r io.Reader, module string) (*run, error) {
	out := &run{ran: map[string]int{}, pkgs: map[string]string{}, noTests: map[string]bool{}}
	byKey := map[string]*test{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d is no go test -json event: %w", line, err)
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(e.Package, module), "/")
		if pkg == "" {
			pkg = "."
		}
		if e.Test == "" {
			switch e.Action {
			case "pass", "fail", "skip":
				out.pkgs[pkg] = e.Action
			case "output":
				if strings.Contains(e.Output, "[no test files]") {
					out.noTests[pkg] = true
				}
			}
			continue
		}
		key := pkg + "\t" + e.Test
		t := byKey[key]
		if t == nil {
			t = &test{pkg: pkg, name: e.Test}
			byKey[key] = t
			out.tests = append(out.tests, t)
		}
		switch e.Action {
		case "output":
			t.output = append(t.output, strings.TrimRight(e.Output, "\n"))
		case "pass", "fail", "skip":
			t.action = e.Action
			t.elapsed = time.Duration(e.Elapsed * float64(time.Second))
			if !strings.Contains(e.Test, "/") {
				out.ran[pkg]++
			}
		}
	}
	return out, sc.Err()
}

// reason is what a skipped test printed before its --- SKIP line: the
// t.Skip message (file:line: text), and anything it logged.
func (t *test) reason() string {
	var lines []string
	for _, l := range t.output {
		s := strings.TrimSpace(l)
		if s == "" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- ") {
			continue
		}
		lines = append(lines, s)
	}
	if len(lines) == 0 {
		return "(no reason printed)"
	}
	// The skip message is the last line printed; earlier ones are logs.
	return lines[len(lines)-1]
}

// pinned is the list of skips a target expects: package and test name,
// and why (for the reader; the run's own reason is printed beside it). A
// name ending in "/*" covers every subtest of that test: a test that pins
// its subtests' skips itself (TestConformance with its skips.txt).
type pinned struct {
	why   map[string]string // "pkg\ttest" → why
	order []string
	// maybe holds the keys read with -maybe: skips a run may make or not
	// (a deployment's missing feature: real MongoDB runs the test, a
	// test server skips it), so one that runs is no breach.
	maybe map[string]bool
}

// listed reports whether the skip of test name in pkg is pinned.
func (p *pinned) listed(pkg, name string) bool {
	if _, ok := p.why[pkg+"\t"+name]; ok {
		return true
	}
	if parent, _, ok := strings.Cut(name, "/"); ok {
		_, ok := p.why[pkg+"\t"+parent+"/*"]
		return ok
	}
	return false
}

func readPinned(path string) (*pinned, error) {
	p := &pinned{why: map[string]string{}, maybe: map[string]bool{}}
	return p, p.read(path, false)
}

// read adds the lines of path to p; maybe marks them as skips that may
// also run.
func (p *pinned) read(path string, maybe bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		parts := strings.SplitN(l, "\t", 3)
		if len(parts) < 3 || parts[0] == "" || parts[1] == "" || strings.TrimSpace(parts[2]) == "" {
			return fmt.Errorf("%s:%d: want <package>TAB<test>TAB<why>, got %q", path, n, l)
		}
		key := parts[0] + "\t" + parts[1]
		if _, dup := p.why[key]; dup {
			return fmt.Errorf("%s:%d: %s %s listed twice", path, n, parts[0], parts[1])
		}
		p.why[key] = parts[2]
		p.order = append(p.order, key)
		if maybe {
			p.maybe[key] = true
		}
	}
	return sc.Err()
}

// check compares the run with the pinned skips and returns every breach.
func check(r *run, p *pinned) []string {
	var bad []string
	total := 0
	for _, n := range r.ran {
		total += n
	}
	if total == 0 {
		bad = append(bad, "the run finished no test at all")
	}
	var pkgs []string
	for pkg := range r.pkgs {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		if r.pkgs[pkg] == "fail" {
			bad = append(bad, fmt.Sprintf("package %s failed", pkg))
		}
		if r.ran[pkg] == 0 && !r.noTests[pkg] && r.pkgs[pkg] != "fail" {
			bad = append(bad, fmt.Sprintf("package %s has tests but ran none", pkg))
		}
	}
	seen := map[string]*test{}
	for _, t := range r.tests {
		key := t.pkg + "\t" + t.name
		seen[key] = t
		switch t.action {
		case "fail":
			bad = append(bad, fmt.Sprintf("%s %s failed", t.pkg, t.name))
		case "skip":
			if !p.listed(t.pkg, t.name) {
				bad = append(bad, fmt.Sprintf("%s %s skipped and is not listed: %s", t.pkg, t.name, t.reason()))
			}
		}
	}
	for _, key := range p.order {
		name := strings.Replace(key, "\t", " ", 1)
		if parent, ok := strings.CutSuffix(key, "/*"); ok {
			if seen[parent] == nil {
				bad = append(bad, fmt.Sprintf("%s is listed for its subtests' skips but did not run at all (renamed or removed? fix the list)", strings.Replace(parent, "\t", " ", 1)))
			}
			continue
		}
		t := seen[key]
		switch {
		case t == nil:
			bad = append(bad, fmt.Sprintf("%s is listed as a skip but did not run at all (renamed or removed? fix the list)", name))
		case t.action != "skip" && !p.maybe[key]:
			bad = append(bad, fmt.Sprintf("%s is listed as a skip but %sed: remove its line", name, t.action))
		}
	}
	return bad
}

func main() {
	jsonPath := flag.String("json", "test.json", "the go test -json events (gotestsum --jsonfile)")
	skipsPath := flag.String("skips", "", "the pinned skips of this target: <package>TAB<test>TAB<why> per line")
	maybePath := flag.String("maybe", "", "skips the run may make or not (a feature the deployment may lack), in the same form")
	write := flag.Bool("write", false, "write the run's skips to -skips instead of checking them")
	module := flag.String("module", "github.com/mongo-sync/mongo-sync", "the module path, left out of package names")
	slowest := flag.Int("slowest", 10, "print this many of the slowest tests")
	flag.Parse()
	if *skipsPath == "" {
		fmt.Fprintln(os.Stderr, "testcheck: -skips is required")
		os.Exit(2)
	}
	if err := main1(*jsonPath, *skipsPath, *maybePath, *module, *write, *slowest); err != nil {
		fmt.Fprintln(os.Stderr, "testcheck:", err)
		os.Exit(1)
	}
}

var errBreach = errors.New("the run breaks what the suite claims (above)")

func main1(jsonPath, skipsPath, maybePath, module string, write bool, slowest int) error {
	f, err := os.Open(jsonPath)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := read(f, module)
	if err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	if write {
		return writePinned(skipsPath, r)
	}
	p, err := readPinned(skipsPath)
	if err != nil {
		return err
	}
	if maybePath != "" {
		if err := p.read(maybePath, true); err != nil {
			return err
		}
	}
	printSkips(os.Stdout, r, p, skipsPath)
	printSlowest(os.Stdout, r, slowest)
	if bad := check(r, p); len(bad) > 0 {
		fmt.Println("--- the run against", skipsPath)
		for _, b := range bad {
			fmt.Println("FAIL:", b)
		}
		return errBreach
	}
	return nil
}

func printSkips(w io.Writer, r *run, p *pinned, path string) {
	var skips []*test
	for _, t := range r.tests {
		if t.action == "skip" {
			skips = append(skips, t)
		}
	}
	total := 0
	for _, n := range r.ran {
		total += n
	}
	fmt.Fprintf(w, "--- skip summary: %d of %d tests skipped (pinned in %s)\n", len(skips), total, path)
	for _, t := range skips {
		mark := "listed"
		if !p.listed(t.pkg, t.name) {
			mark = "NOT LISTED"
		}
		fmt.Fprintf(w, "skip  %-12s %s %s: %s\n", "["+mark+"]", t.pkg, t.name, t.reason())
	}
}

func printSlowest(w io.Writer, r *run, n int) {
	var top []*test
	for _, t := range r.tests {
		if !strings.Contains(t.name, "/") && t.action != "" {
			top = append(top, t)
		}
	}
	sort.SliceStable(top, func(i, j int) bool { return top[i].elapsed > top[j].elapsed })
	if len(top) > n {
		top = top[:n]
	}
	fmt.Fprintf(w, "--- the %d slowest tests\n", len(top))
	for _, t := range top {
		fmt.Fprintf(w, "%8.1fs  %s %s\n", t.elapsed.Seconds(), t.pkg, t.name)
	}
}

func writePinned(path string, r *run) error {
	var b strings.Builder
	b.WriteString("# Tests this target skips, and why: <package>TAB<test>TAB<why>. `make test` fails on a skip\n")
	b.WriteString("# not listed here, and on a listed test that runs or no longer exists (tools/testcheck).\n")
	for _, t := range r.tests {
		if t.action == "skip" {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", t.pkg, t.name, t.reason())
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
