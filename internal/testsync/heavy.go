package testsync

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Heavy holds the machine for a test whose bounds assume that no other
// heavy test runs beside it: the sharded syncs, each several test servers
// under the hostile workload. go test runs packages in parallel (one
// process each), so the hold is a file lock every test process shares; a
// test waits for it, and says how long it waited. Measured: with the
// sharded copy through a router (pipeline) beside the three-shard sync
// (cmd/mongo-sync) on 2 cores, its appliers fell to 12 entries/s and it
// missed its 5-minute bound.
func Heavy(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "mongo-sync-heavy-tests.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("heavy-test lock: %v", err)
	}
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("heavy-test lock: %v", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("waited %s for another package's heavy test to end", waited.Round(time.Second))
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
