package testmongo

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// CPU is the processor time the server process has used so far (user +
// system), read from /proc; 0 when it is not a local child process or /proc
// is not there. Benchmarks report it next to wall time: on a shared machine
// it tells which server a load costs.
func (s *Server) CPU() time.Duration {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which ends with the last ')':
	// state is field 3, utime 14, stime 15 (1-based, man proc).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// Pin binds every thread of the server process to the CPUs listed (taskset
// syntax, e.g. "1"), so benchmarks can give each server its own core on a
// shared machine. It fails the test when the server is not a local child or
// taskset is missing.
func (s *Server) Pin(cpus string) {
	s.t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		s.t.Skip("cannot pin a server that is not a local child process")
	}
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(s.cmd.Process.Pid)).CombinedOutput()
	if err != nil {
		s.t.Fatalf("pin testmongod to CPUs %s: %v: %s", cpus, err, out)
	}
}
