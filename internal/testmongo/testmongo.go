// Package testmongo starts real wire-protocol servers for tests: testmongod
// (FerretDB with an oplog) as a child process, or the deployments named by
// MONGO_SYNC_TEST_SRC / MONGO_SYNC_TEST_DST.
package testmongo

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Server is a running test server.
type Server struct {
	URI  string
	Real bool // a deployment named by the environment (make test-real)
	// TestServer is false only for a Real deployment that is not a
	// testmongod (its buildInfo carries no ferretdbVersion): a test that
	// needs what only MongoDB does runs there.
	TestServer bool

	t       testing.TB
	dataDir string
	addr    string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// RepoRoot is the module root (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary returns the testmongod binary, building it on first use when
// $TESTMONGOD and bin/testmongod are both missing.
func Binary() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("TESTMONGOD"); p != "" {
			binPath = p
			return
		}
		root := RepoRoot()
		binPath = filepath.Join(root, "bin", "testmongod")
		if _, err := os.Stat(binPath); err == nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = filepath.Join(root, "tools", "testmongod")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build testmongod: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// Start starts a fresh testmongod with its own data directory, or returns
// the real deployment named by envVar (MONGO_SYNC_TEST_SRC or _DST) if set.
// It is stopped at the end of the test.
func Start(t testing.TB, envVar string, extraArgs ...string) *Server {
	t.Helper()
	if envVar != "" {
		if uri := os.Getenv(envVar); uri != "" {
			return startReal(t, envVar, uri)
		}
	}
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, TestServer: true, dataDir: t.TempDir(), addr: "127.0.0.1:0", args: extraArgs}
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

// StartSource and StartDest are Start for the two roles.
func StartSource(t testing.TB, extraArgs ...string) *Server {
	return Start(t, "MONGO_SYNC_TEST_SRC", extraArgs...)
}

func StartDest(t testing.TB) *Server { return Start(t, "MONGO_SYNC_TEST_DST") }

func (s *Server) start(bin string) {
	s.t.Helper()
	args := append([]string{"-addr", s.addr, "-data", s.dataDir}, s.args...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start testmongod: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { cmd.Wait(); close(s.exited) }()

	// testmongod prints its URI once it answers ping.
	select {
	case l := <-lines:
		uri, ok := strings.CutPrefix(l, "listening ")
		if !ok {
			s.t.Fatalf("testmongod said %q", l)
		}
		s.URI = uri
		s.addr = strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	case <-s.exited:
		s.t.Fatalf("testmongod exited before it was ready")
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		s.t.Fatalf("testmongod not ready after 60s")
	}
}

// Kill kills the server with SIGKILL (an outage); its data stays.
func (s *Server) Kill() {
	if s.Real || s.cmd == nil {
		s.t.Skip("cannot kill a real deployment")
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same address and data.
func (s *Server) Restart() {
	s.t.Helper()
	bin, _ := Binary()
	s.start(bin)
}

// Stop stops the server.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		// A server that ignores SIGTERM is stuck inside; SIGQUIT makes the
		// Go runtime print every goroutine's stack to its stderr (ours)
		// before it exits, which says where.
		fmt.Fprintf(os.Stderr, "testmongod %s did not stop on SIGTERM in 10s; its goroutines follow\n", s.addr)
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	s.cmd = nil
}

// Client connects to the server; the client is closed at the end of the test.
func (s *Server) Client() *mongo.Client {
	s.t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}
