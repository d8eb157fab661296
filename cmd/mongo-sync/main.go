// Command mongo-sync keeps a MongoDB destination in sync with a replica set:
// a reader tails the source's oplog into a durable spool, an applier replays
// the spool onto the destination.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// Signals first: a SIGTERM at any moment after this stops the process
	// cleanly (flush, exit 0) instead of killing it.
	ctx, stop := signalContext()
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mongo-sync:", err)
		os.Exit(1)
	}
}
