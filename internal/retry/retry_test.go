package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// poolCleared behaves like the driver's pool-cleared error: a connection
// pool emptied after another operation's network error.
type poolCleared struct{}

func (poolCleared) Error() string   { return "connection pool was cleared" }
func (poolCleared) Retryable() bool { return true }

func TestRetryable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, true},
		{"pool cleared, wrapped as the driver wraps it", mongo.CommandError{Wrapped: fmt.Errorf("op: %w", poolCleared{})}, true},
		{"not primary", mongo.CommandError{Code: 10107}, true},
		{"retryable write label", mongo.CommandError{Code: 1, Labels: []string{"RetryableWriteError"}}, true},
		{"write concern error: shutting down", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 91}}, true},
		{"duplicate key", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000}}}, false},
		// Issue #22's transient errors that stopped the applier
		// (mongoerr.Transient cites error_codes.yml for each).
		{"wtimeout", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Name: "WriteConcernFailed",
			Message: "waiting for replication timed out"}}, true},
		{"maxTimeMS expired", mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired"}, true},
		{"no member for the read preference", mongo.CommandError{Code: 133, Name: "FailedToSatisfyReadPreference"}, true},
		{"majority snapshot not yet available", mongo.CommandError{Code: 134, Name: "ReadConcernMajorityNotAvailableYet"}, true},
		// Issue #29: a source without majority reads never recovers by itself.
		{"majority reads disabled", mongo.CommandError{Code: 148, Name: "ReadConcernMajorityNotEnabled"}, false},
		{"majority reads disabled, with a retryable label", mongo.CommandError{Code: 148, Labels: []string{"RetryableWriteError"}}, false},
		{"bad value", mongo.CommandError{Code: 2}, false},
		{"plain error", errors.New("x"), false},
	}
	for _, tc := range cases {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A source started with enableMajorityReadConcern: false answers every
// majority read ReadConcernMajorityNotEnabled (148; mongodb/mongo
// src/mongo/base/error_codes.yml, the 4.4 manual's "Disable Read Concern
// Majority"): Do tries once and returns it explained, instead of retrying
// forever.
func TestDo_MajorityReadsDisabledStopsAtOnce(t *testing.T) {
	calls := 0
	err := Do(context.Background(), nil, "count shop.orders", func() error {
		calls++
		return fmt.Errorf("count shop.orders: %w", mongo.CommandError{Code: 148, Name: "ReadConcernMajorityNotEnabled",
			Message: "Majority read concern requested, but server was not started with --enableMajorityReadConcern."})
	})
	if calls != 1 || !errors.Is(err, mongoerr.ErrNoMajorityReads) {
		t.Fatalf("Do: %v after %d attempts; want ErrNoMajorityReads after 1", err, calls)
	}
}

func TestGrace_OutlivesItsContextByD(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	send, release := Grace(ctx, 200*time.Millisecond)
	defer release()
	cancel()
	if send.Err() != nil {
		t.Fatal("the send context ended with its parent")
	}
	select {
	case <-send.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the send context outlived its parent by 5 s, want 200 ms")
	}

	send, release = Grace(context.Background(), time.Hour)
	release()
	if send.Err() == nil {
		t.Fatal("release did not end the send context")
	}
}

func TestDo_NoAttemptAfterItsContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := Do(ctx, nil, "nothing", func() error { calls++; return nil })
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("Do after its context ended: %v, %d attempts; want context.Canceled, none", err, calls)
	}
}
