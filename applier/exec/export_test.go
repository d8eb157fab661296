package exec

// SetRunStopped sets x's seam for the tests of package exec_test: f is
// called when a partition's failure has stopped the other partitions of a
// run.
func SetRunStopped(x *Executor, f func()) { x.runStopped = f }
