package exec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// mongos answers a write whose routing moved under it, after its own
// retries, with one of these codes in writeErrors (a write command) or as
// the command's error (a DDL); each is retried by code, with the backoff
// of every other transient error, until RoutingRetry has passed since the
// first of them. Codes and names: src/mongo/base/error_codes.yml.
func routingErrors() []struct {
	name string
	code int
	err  error
} {
	we := func(code int, name, msg string) error {
		return mongo.WriteException{WriteErrors: mongo.WriteErrors{{Index: 0, Code: code, Message: msg}}}
	}
	return []struct {
		name string
		code int
		err  error
	}{
		{"StaleConfig", 13388, we(13388, "StaleConfig", "shard version not ok: version mismatch detected for db.c")},
		{"StaleEpoch", 150, we(150, "StaleEpoch", "epoch mismatch detected for db.c")},
		{"StaleDbVersion", 249, we(249, "StaleDbVersion", "version mismatch detected for db")},
		{"NoProgressMade", 82, we(82, "NoProgressMade", "no progress was made executing batch write op in db.c after 5 rounds")},
		{"ShardNotFound", 70, we(70, "ShardNotFound", "Shard shard2 not found")},
		{"LockBusy", 46, mongo.CommandError{Code: 46, Name: "LockBusy", Message: "Failed to acquire DDL lock for db.c"}},
		{"ConflictingOperationInProgress", 117, mongo.CommandError{Code: 117, Name: "ConflictingOperationInProgress",
			Message: "Another operation is in progress for db.c"}},
	}
}

func TestExecutor_RoutingErrorsRetried(t *testing.T) {
	for _, tc := range routingErrors() {
		t.Run(tc.name, func(t *testing.T) {
			x := &Executor{Log: quietLog(), RoutingRetry: time.Hour}
			calls := 0
			err := x.retry(context.Background(), "db.c", "write to db.c", func() error {
				if calls++; calls < 3 {
					return tc.err
				}
				return nil
			})
			if err != nil || calls != 3 {
				t.Errorf("after two %s answers: err %v, %d attempts; want success at the third", tc.name, err, calls)
			}
		})
	}
	x := &Executor{Log: quietLog(), RoutingRetry: time.Hour}
	calls := 0
	bad := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 2, Message: "bad value"}}}
	if err := x.retry(context.Background(), "db.c", "write", func() error { calls++; return bad }); err == nil || calls != 1 {
		t.Errorf("BadValue: err %v after %d attempts, want it returned at once", err, calls)
	}
}

// A routing error that lasts past RoutingRetry stops the applier, naming
// the code and the namespace.
func TestExecutor_RoutingRetryBounded(t *testing.T) {
	for _, tc := range routingErrors() {
		t.Run(tc.name, func(t *testing.T) {
			x := &Executor{Log: quietLog(), RoutingRetry: time.Nanosecond}
			calls := 0
			err := x.retry(context.Background(), "db.c", "write to db.c", func() error { calls++; return tc.err })
			var re *RoutingError
			if !errors.As(err, &re) || re.Code != tc.code || re.Name != tc.name || re.NS != "db.c" {
				t.Fatalf("err %v (%T), want a RoutingError for %s (%d) on db.c", err, err, tc.name, tc.code)
			}
			for _, s := range []string{tc.name, "db.c", "applier.routing_retry"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not name %s", err, s)
				}
			}
			if calls < 2 {
				t.Errorf("%d attempt(s): the error was not retried before the bound", calls)
			}
			if !errors.As(err, new(mongo.WriteException)) && !errors.As(err, new(mongo.CommandError)) {
				t.Error("the server's error is not kept")
			}
		})
	}
}

// The executor's barriers go through the same retry: a DDL that meets a
// coordinator's lock (LockBusy) on the destination is sent again; one
// that keeps meeting it stops the applier with the entry and the code.
func TestExecutor_RoutingRetryOnCommands(t *testing.T) {
	busy := mongo.CommandError{Code: 46, Name: "LockBusy", Message: "Failed to acquire DDL lock for db.c"}
	for _, bound := range []time.Duration{time.Hour, time.Nanosecond} {
		calls := 0
		op := Op{Seq: 7, NS: "db.c", Desc: "drop", Cmd: func(context.Context, *mongo.Client) error {
			if calls++; calls < 3 {
				return busy
			}
			return nil
		}}
		x := &Executor{Log: quietLog(), Workers: 1, RoutingRetry: bound}
		err := x.Apply(context.Background(), []Op{op})
		switch {
		case bound == time.Hour && err != nil:
			t.Errorf("a drop answered LockBusy twice: %v, want it applied at the third attempt", err)
		case bound == time.Nanosecond:
			var ee *EntryError
			var re *RoutingError
			if !errors.As(err, &ee) || ee.Seq != 7 || !errors.As(err, &re) || re.Code != 46 {
				t.Errorf("a drop past the bound: %v, want an EntryError for seq 7 holding LockBusy (46)", err)
			}
		}
	}
}
