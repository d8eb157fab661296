//go:build failpoints

package main

// failpointsBuild: the fault suite is compiled in and the binary under test
// is built with failpoints; the kill tests run their long variants.
const failpointsBuild = true
