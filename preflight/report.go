// Package preflight is `mongo-sync check`: it reads both sides, the state
// file and the spool, and says before anything is written what a sync
// would meet on this deployment, one line per check. It writes nothing:
// every command it sends is a read, and the state file and the spool are
// opened read-only.
package preflight

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Status is a check's outcome.
type Status string

const (
	OK      Status = "ok"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Unknown Status = "unknown" // the check could not be made; Detail says why
)

// Result is one check.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Do is what to do about a warn, fail or unknown ("" when nothing).
	Do string `json:"do,omitempty"`
}

// Report is every check in the order they ran.
type Report struct {
	Results []Result
}

func (r *Report) add(check string, st Status, detail, do string) {
	r.Results = append(r.Results, Result{Check: check, Status: st, Detail: detail, Do: do})
}

func (r *Report) ok(check, format string, args ...any) {
	r.add(check, OK, fmt.Sprintf(format, args...), "")
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return true
		}
	}
	return false
}

// Find returns the results whose check name starts with prefix.
func (r *Report) Find(prefix string) []Result {
	var out []Result
	for _, res := range r.Results {
		if strings.HasPrefix(res.Check, prefix) {
			out = append(out, res)
		}
	}
	return out
}

// WriteText prints one line per check: status, check, what was found and,
// after " -- ", what to do.
func (r *Report) WriteText(w io.Writer) error {
	for _, res := range r.Results {
		line := fmt.Sprintf("%-7s %s: %s", res.Status, res.Check, oneLine(res.Detail))
		if res.Do != "" {
			line += " -- " + oneLine(res.Do)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON prints the results as one JSON array.
func (r *Report) WriteJSON(w io.Writer) error {
	out := r.Results
	if out == nil {
		out = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
