//go:build failpoints

// Package failpoint kills the process at named dangerous points, for the
// fault suite. It is compiled in only with the "failpoints" build tag;
// without it every call is a no-op.
//
// MONGO_SYNC_FAILPOINT=name:N kills the process with SIGKILL on the Nth time
// it reaches the point called name (N defaults to 1).
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

var (
	name  string
	after int64 = 1
	hits  atomic.Int64
)

func init() {
	spec := os.Getenv("MONGO_SYNC_FAILPOINT")
	if spec == "" {
		return
	}
	n, count, ok := strings.Cut(spec, ":")
	name = n
	if ok {
		if c, err := strconv.ParseInt(count, 10, 64); err == nil && c > 0 {
			after = c
		}
	}
}

// Hit kills the process if point is the armed failpoint and its count is
// reached.
func Hit(point string) {
	if point != name {
		return
	}
	if hits.Add(1) == after {
		os.Stderr.WriteString("failpoint " + point + " hit: killing the process\n")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not handled; never return
	}
}
