package spool

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestMain doubles as the writer process of the multi-process tests: the
// test binary re-executes itself with SPOOL_TEST_WRITER set.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SPOOL_TEST_WRITER"); dir != "" {
		os.Exit(writerProcess(dir))
	}
	os.Exit(m.Run())
}

// writerProcess appends SPOOL_TEST_BATCHES batches (0 = forever) of
// SPOOL_TEST_BATCH_SIZE entries, printing "ok <batch> <lastseq>" after each
// Append returns.
func writerProcess(dir string) int {
	batches, _ := strconv.Atoi(os.Getenv("SPOOL_TEST_BATCHES"))
	size, _ := strconv.Atoi(os.Getenv("SPOOL_TEST_BATCH_SIZE"))
	segMax, _ := strconv.ParseInt(os.Getenv("SPOOL_TEST_SEGMENT_MAX"), 10, 64)
	log := quietLogger()
	if os.Getenv("SPOOL_TEST_LOG") != "" { // warnings as lines among the "ok" ones
		l := logrus.New()
		l.SetOutput(os.Stdout)
		l.SetLevel(logrus.WarnLevel)
		l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
		log = l
	}
	w, err := OpenWriter(dir, Options{SegmentMaxBytes: segMax, SealInterval: 20 * time.Millisecond, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := int(w.NextSeq()) // batch numbers continue across restarts
	for b := start; batches == 0 || b < start+batches; b++ {
		_, last, err := w.Append(context.Background(), makeBatch(b, size, 100))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("ok %d %d\n", b, last)
	}
	if err := w.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
