package exec

import (
	"context"
	"fmt"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/retry"
)

// A mongos whose routing table moves under a write (a chunk migration,
// movePrimary, a DDL coordinator on the destination cluster) retries it
// itself for a while, then answers with a routing error
// (mongoerr.Routing). The executor retries those too, by code and with
// the backoff of every other transient error (retry.Do), but only for
// RoutingRetry from the first of a run of them: one that lasts is no
// passing move, and the applier stops naming the code and the namespace.

// defaultRoutingRetry is RoutingRetry's default (applier.routing_retry).
const defaultRoutingRetry = 5 * time.Minute

// RoutingError is a routing error that outlasted RoutingRetry.
type RoutingError struct {
	NS     string
	Code   int
	Name   string
	Lasted time.Duration
	Err    error
}

func (e *RoutingError) Error() string {
	return fmt.Sprintf("mongos kept answering %s (%d) for %s for %s (applier.routing_retry): %v",
		e.Name, e.Code, e.NS, e.Lasted.Round(time.Second), e.Err)
}

func (e *RoutingError) Unwrap() error { return e.Err }

// routingRetry marks a routing error within the bound as retryable:
// retry.Retryable takes an error whose Retryable method says true (the
// driver's RetryablePoolError shape).
type routingRetry struct{ error }

func (r routingRetry) Unwrap() error   { return r.error }
func (r routingRetry) Retryable() bool { return true }

// retry runs f as retry.Do does, also retrying mongos routing errors for
// x.RoutingRetry; past it, f's error comes back as a *RoutingError.
func (x *Executor) retry(ctx context.Context, ns, what string, f func() error) error {
	bound := x.RoutingRetry
	if bound <= 0 {
		bound = defaultRoutingRetry
	}
	var since time.Time
	return retry.Do(ctx, x.Log, what, func() error {
		err := f()
		code, name, ok := mongoerr.Routing(err)
		if !ok || retry.Retryable(err) {
			since = time.Time{}
			return err
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		if lasted := now.Sub(since); lasted >= bound {
			return &RoutingError{NS: ns, Code: code, Name: name, Lasted: lasted, Err: err}
		}
		return routingRetry{err}
	})
}
