package spool

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func writerCmd(t *testing.T, dir string, batches, size int, segMax int64) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"SPOOL_TEST_WRITER="+dir,
		fmt.Sprintf("SPOOL_TEST_BATCHES=%d", batches),
		fmt.Sprintf("SPOOL_TEST_BATCH_SIZE=%d", size),
		fmt.Sprintf("SPOOL_TEST_SEGMENT_MAX=%d", segMax))
	cmd.Stderr = os.Stderr
	return cmd
}

// TestSpool_TwoProcesses: a writer process appends while this process drains
// sealed segments; every seq arrives once, in order.
func TestSpool_TwoProcesses(t *testing.T) {
	dir := t.TempDir()
	const batches, size = 200, 100
	cmd := writerCmd(t, dir, batches, size, 128<<10)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Wait for the writer to create the spool before opening it.
	for i := 0; ; i++ {
		if _, err := os.Stat(dir + "/LOCK"); err == nil {
			break
		}
		if i > 500 {
			t.Fatal("writer process did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	next := uint64(1)
	writerDone := false
	readWhileWriting := 0
	deadline := time.Now().Add(2 * time.Minute)
	for next <= batches*size {
		if time.Now().After(deadline) {
			t.Fatalf("stuck at seq %d", next)
		}
		es, err := r.Read(context.Background(), next, 500, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		for _, e := range es {
			if e.Seq != next {
				t.Fatalf("got seq %d, want %d", e.Seq, next)
			}
			next++
		}
		if !writerDone {
			readWhileWriting += len(es)
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("writer process: %v", err)
				}
				writerDone = true
			default:
			}
		}
		if len(es) == 0 {
			time.Sleep(5 * time.Millisecond) // polling across processes is the backstop
		}
	}
	if !writerDone {
		if err := <-exited; err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	if readWhileWriting == 0 {
		t.Fatal("nothing was read while the writer was still writing")
	}
	t.Logf("read %d entries, %d of them while the writer process was running", next-1, readWhileWriting)
}

// TestSpool_KillNine: kill -9 a writing process at random moments; after
// each, the reopened spool has contiguous seqs, whole batches only, and every
// batch whose Append had returned.
func TestSpool_KillNine(t *testing.T) {
	dir := t.TempDir()
	const size = 50
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := uint64(0)
	for round := 0; round < rounds; round++ {
		cmd := writerCmd(t, dir, 0, size, 64<<10)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		lines := make(chan string, 1<<16)
		go func() {
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Let it append for a random while (at least one ack), then kill -9.
		first := <-lines
		if first == "" {
			t.Fatalf("round %d: writer printed nothing", round)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for _, l := range append([]string{first}, drain(lines)...) {
			var b int
			var last uint64
			fmt.Sscanf(l, "ok %d %d", &b, &last)
			if last > acked {
				acked = last
			}
		}
		verifyAfterCrash(t, dir, round, acked, size)
	}
	t.Logf("%d kill -9 rounds, %d entries acknowledged and all present", rounds, acked)
}

func drain(ch chan string) []string {
	var out []string
	for l := range ch {
		out = append(out, l)
	}
	return out
}

func verifyAfterCrash(t *testing.T, dir string, round int, acked uint64, size int) {
	t.Helper()
	w, err := OpenWriter(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("round %d: reopen after kill -9: %v", round, err)
	}
	w.Close()
	es := readAll(t, dir, 1)
	checkContiguous(t, es, 1)
	if uint64(len(es)) < acked {
		t.Fatalf("round %d: spool has %d entries, %d were acknowledged", round, len(es), acked)
	}
	if len(es)%size != 0 {
		t.Fatalf("round %d: %d entries is not a whole number of %d-entry batches", round, len(es), size)
	}
	for i, e := range es {
		idx, _ := bson.Raw(e.Raw).LookupErr("o", "idx")
		if int(idx.Int32()) != i%size {
			t.Fatalf("round %d: seq %d holds batch index %d, want %d (partial batch)", round, e.Seq, idx.Int32(), i%size)
		}
	}
	if l := mustList(t, dir); l.Open != nil || len(l.Gaps) != 0 {
		t.Fatalf("round %d: after reopen: open=%v gaps=%v", round, l.Open, l.Gaps)
	}
}
