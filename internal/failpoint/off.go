//go:build !failpoints

// Package failpoint kills the process at named dangerous points for the fault
// suite when built with the "failpoints" tag; in normal builds Hit does
// nothing.
package failpoint

// Hit does nothing in a build without the "failpoints" tag.
func Hit(string) {}
