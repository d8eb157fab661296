// Package retry is mongo-sync's one retry helper: capped exponential
// backoff for errors a MongoDB deployment recovers from.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// Retryable reports errors worth retrying: network, timeouts, not
// primary, shutting down, and the server codes mongoerr.Transient lists.
// An error no retry cures (mongoerr.Permanent: a source refusing majority
// reads) is never retried, whatever else it carries.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || mongoerr.Permanent(err) {
		return false
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if mongoerr.Transient(err) {
		return true
	}
	// A cleared connection pool (another operation's network error): the
	// driver retries it only for its own retryable writes, not for the raw
	// commands the applier and the copier send.
	var pool driver.RetryablePoolError
	if errors.As(err, &pool) && pool.Retryable() {
		return true
	}
	var sel topology.ServerSelectionError
	return errors.Is(err, mongo.ErrClientDisconnected) || errors.As(err, &sel)
}

type observerKey struct{}

// Observer is told of every retried error (metrics).
type Observer interface{ Retry(err error) }

// WithObserver returns ctx carrying o, which Do tells of every retry.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// Do runs f until it succeeds, fails with a non-retryable error, or ctx
// ends, backing off exponentially (capped) and logging at a bounded rate.
// An error no retry cures comes back explained (mongoerr.Explain).
// No attempt starts once ctx has ended: a stop sends nothing new.
func Do(ctx context.Context, log logrus.FieldLogger, what string, f func() error) error {
	var backoff Backoff
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := f()
		if err == nil {
			return nil
		}
		if !Retryable(err) {
			return mongoerr.Explain(err)
		}
		if o, ok := ctx.Value(observerKey{}).(Observer); ok && o != nil {
			o.Retry(err)
		}
		if time.Since(lastLog) > 10*time.Second {
			log.WithError(err).WithField("attempt", attempt).Warnf("%s: server unavailable, retrying", what)
			lastLog = time.Now()
		}
		if err := backoff.Wait(ctx); err != nil {
			return err
		}
	}
}

// Grace returns a context for sending commands that ends d after ctx ends
// (or at release). A command already sent when ctx ends (a stop) is then
// answered rather than abandoned: the server would go on running an
// abandoned write and could apply it after a later replay of the same
// entries. Do, run with ctx, starts nothing new after it ends.
func Grace(ctx context.Context, d time.Duration) (send context.Context, release context.CancelFunc) {
	send, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(d, cancel) })
	return send, func() {
		stop()
		cancel()
	}
}
