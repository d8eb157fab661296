package applier

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConformance_SkipVerdict: against the test server a skip must be
// listed in skips.txt and a listed case must not pass; against a real
// MongoDB the list does not apply.
func TestConformance_SkipVerdict(t *testing.T) {
	cases := []struct {
		name             string
		reason, listed   string
		isListed, real   bool
		failed           bool
		wantSkip         bool
		wantWrongContain string
	}{
		{"passes, unlisted", "", "", false, false, false, false, ""},
		{"fails, unlisted", "", "", false, false, true, false, ""},
		{"skips, listed", "NotImplemented", "collation", true, false, false, true, ""},
		{"skips, unlisted", "NotImplemented", "", false, false, false, false, "does not list it: NotImplemented"},
		{"listed, passes now", "", "collation", true, false, false, false, "passes now: remove its line"},
		{"listed, fails otherwise", "", "collation", true, false, true, false, ""},
		{"real server skips, unlisted", "NotImplemented", "", false, true, false, true, ""},
		{"real server passes a listed case", "", "collation", true, true, false, false, ""},
	}
	for _, c := range cases {
		skip, wrong := skipVerdict(c.reason, c.listed, c.isListed, c.real, c.failed)
		if skip != c.wantSkip || (c.wantWrongContain == "") != (wrong == "") || !strings.Contains(wrong, c.wantWrongContain) {
			t.Errorf("%s: skip %v, wrong %q; want skip %v, wrong containing %q", c.name, skip, wrong, c.wantSkip, c.wantWrongContain)
		}
	}
}

func TestConformance_ReadCases(t *testing.T) {
	write := func(dir, name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(dir, "cases.json", `[{"name":"a"},{"name":"b"}]`)
	cs, files, err := readCases(dir)
	if err != nil || len(cs) != 2 || len(files) != 1 || files[0] != (caseFile{"cases.json", 2}) {
		t.Fatalf("cases.json alone: %d cases, files %v, %v", len(cs), files, err)
	}
	write(dir, "local.json", `[{"name":"c"}]`)
	cs, files, err = readCases(dir)
	if err != nil || len(cs) != 3 || len(files) != 2 || files[1] != (caseFile{"local.json", 1}) {
		t.Fatalf("with local.json: %d cases, files %v, %v", len(cs), files, err)
	}
	write(dir, "local.json", `[{"name":"b"}]`)
	if _, _, err := readCases(dir); err == nil || !strings.Contains(err.Error(), `"b" is in cases.json and in local.json`) {
		t.Fatalf("a name in both files: %v, want an error naming both", err)
	}
	if _, _, err := readCases(t.TempDir()); err == nil {
		t.Fatal("a missing cases.json is no error")
	}
}

func TestConformance_ReadSkips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "skips.txt")
	for _, c := range []struct {
		name, body string
		want       map[string]string
		wantErr    string
	}{
		{"comments and blanks", "# header\n\n#  more\nx\tcannot\r\ny\tneither\n", map[string]string{"x": "cannot", "y": "neither"}, ""},
		{"no tab", "x cannot\n", nil, "want <case name><TAB><reason>"},
		{"no reason", "x\t \n", nil, "want <case name><TAB><reason>"},
		{"twice", "x\ta\nx\tb\n", nil, "listed twice"},
	} {
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readSkips(path)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: %v, want an error with %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", c.name, k, got[k], v)
			}
		}
	}
}
