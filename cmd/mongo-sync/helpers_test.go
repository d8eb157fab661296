package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// binary is the mongo-sync command built once for the process-level tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mongo-sync-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mongo-sync")
	args := []string{"build", "-race", "-o", binary}
	if failpointsBuild {
		args = append(args, "-tags", "failpoints")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mongo-sync: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running mongo-sync process.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    *lockedBuffer
	exited chan struct{}
	err    error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv starts mongo-sync with extra environment variables.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.out = &lockedBuffer{mu: &p.mu}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill9()
		if t.Failed() {
			keepOutput(t, p, args)
		}
	})
	return p
}

// keepOutput saves the whole output of a process of a failed test, whose
// failure message quotes only a tail, to a file under MONGO_SYNC_TEST_LOGS
// (default: the system's temporary directory), and logs its warnings and
// errors, so that a failure seen once in CI can be read in full.
func keepOutput(t *testing.T, p *proc, args []string) {
	dir := os.Getenv("MONGO_SYNC_TEST_LOGS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mongo-sync-test-logs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("keep the output of %v: %v", args, err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	f, err := os.CreateTemp(dir, name+"-"+args[0]+"-*.log")
	if err != nil {
		t.Logf("keep the output of %v: %v", args, err)
		return
	}
	out := p.output()
	_, err = f.WriteString(strings.Join(args, " ") + "\n" + out)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Logf("keep the output of %v: %v", args, err)
		return
	}
	var notable []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "level=warning") || strings.Contains(l, "level=error") || strings.HasPrefix(l, "mongo-sync: ") {
			notable = append(notable, l)
		}
	}
	if n := len(notable); n > 60 {
		notable = slices.Concat(notable[:30], []string{fmt.Sprintf("... %d more ...", n-60)}, notable[n-30:])
	}
	t.Logf("whole output of %v (%d lines) kept in %s; its warnings and errors:\n%s", args, strings.Count(out, "\n"), f.Name(), strings.Join(notable, "\n"))
}

// testLogSection sets the log level of a test's processes from
// MONGO_SYNC_TEST_LOG_LEVEL (e.g. debug, to reproduce a failure), if set.
func testLogSection() string {
	if v := os.Getenv("MONGO_SYNC_TEST_LOG_LEVEL"); v != "" {
		return fmt.Sprintf("[log]\nlevel = %q\n", v)
	}
	return ""
}

// keepDirOnFailure copies a failed test's directory (spool, state) to
// MONGO_SYNC_TEST_KEEP when that is set, for a reproduced failure's
// post-mortem. Register it after the directory's own cleanup.
func keepDirOnFailure(t *testing.T, dir string) {
	t.Cleanup(func() {
		to := os.Getenv("MONGO_SYNC_TEST_KEEP")
		if !t.Failed() || to == "" {
			return
		}
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Logf("keep %s: %v", dir, err)
			return
		}
		parent, err := os.MkdirTemp(to, strings.ReplaceAll(t.Name(), "/", "_")+"-*")
		if err != nil {
			t.Logf("keep %s: %v", dir, err)
			return
		}
		dst := filepath.Join(parent, filepath.Base(dir))
		if out, err := exec.Command("cp", "-a", dir, dst).CombinedOutput(); err != nil {
			t.Logf("keep %s: %v\n%s", dir, err, out)
			return
		}
		t.Logf("the test's directory is kept in %s", dst)
	})
}

// output is what the process printed so far.
func (p *proc) output() string { return p.out.String() }

// run runs mongo-sync to completion and returns its output and error; it
// is killed after 2 minutes, or after a --timeout it is given plus a
// minute (cutover's own wait must not be cut short by the test's).
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runWithin(t, 2*time.Minute, args...)
}

// runWithin is run with another limit (a --timeout argument still extends it).
func runWithin(t *testing.T, limit time.Duration, args ...string) (string, error) {
	t.Helper()
	for i, a := range args {
		if a == "--timeout" && i+1 < len(args) {
			if d, err := time.ParseDuration(args[i+1]); err == nil && d+time.Minute > limit {
				limit = d + time.Minute
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	return string(out), err
}

func (p *proc) kill9() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// term sends SIGTERM and returns the exit error (nil: exit 0).
func (p *proc) term(t *testing.T) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(60 * time.Second):
		t.Fatalf("process did not stop on SIGTERM:\n%s", p.out)
		return nil
	}
}

// lockedBuffer lets the test read output while the process writes it.
type lockedBuffer struct {
	mu  *sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLog waits until the process has logged text; it fails at once, with
// the output, if the process exits first.
func (p *proc) waitLog(t *testing.T, d time.Duration, text string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.output(), text) {
		select {
		case <-p.exited:
			t.Fatalf("process exited (%v) before logging %q:\n%s", p.err, text, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %s:\n%s", text, d, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExit waits for the process to stop by itself.
func (p *proc) waitExit(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		t.Fatalf("process still running after %s:\n%s", d, p.out)
		return nil
	}
}

// waitFor polls cond (the processes are in other address spaces: nothing
// can signal us) until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// spooledData returns the sealed data entries of a spool: not no-ops, nor
// a real server's implicit creates (bsontest.Counted). A
// spool it cannot read (missing, unreadable, a segment gone while it reads)
// fails the test: "no entries" is an answer only about a spool it read.
func spooledData(t *testing.T, dir string) []spool.Entry {
	t.Helper()
	r, err := spool.OpenReader(dir)
	if err != nil {
		t.Fatalf("read spool %s: %v", dir, err)
	}
	defer r.Close()
	l, err := spool.List(dir)
	if err != nil {
		t.Fatalf("list spool %s: %v", dir, err)
	}
	out := []spool.Entry{}
	if len(l.Sealed) == 0 {
		return out
	}
	for from := l.Sealed[0].First; ; {
		es, err := r.Read(context.Background(), from, 1000, 1<<24)
		if err != nil {
			t.Fatalf("read spool %s from seq %d: %v", dir, from, err)
		}
		if len(es) == 0 {
			return out
		}
		for _, e := range es {
			if bsontest.Counted(e.Raw) {
				out = append(out, e)
			}
		}
		from = es[len(es)-1].Seq + 1
	}
}

// docs returns a collection's documents as canonical Extended JSON, sorted.
func docs(t *testing.T, c *mongo.Collection) []string {
	t.Helper()
	cur, err := c.Find(context.Background(), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for cur.Next(context.Background()) {
		b, _ := bson.MarshalExtJSON(cur.Current, true, false)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

func same(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func nowOptime() string { return fmt.Sprint(time.Now().Unix() - 1) }
