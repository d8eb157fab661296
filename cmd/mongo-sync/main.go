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
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mongo-sync:", err)
		os.Exit(1)
	}
}
