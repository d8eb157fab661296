package gate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/hello"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The idle clock rule. An idle shard's reader reports the same newest ts
// for as long as nothing is written, which would hold every other shard at
// it. But the oplog's ts is a hybrid logical clock at or above the shard's
// wall clock: an entry written after the shard's clock read W has ts.T >=
// floor(W). So when a cursor whose query began at opened has nothing more
// to give and everything read is spooled, every entry still to come has
// ts above {T: floor(W), I: 0} minus one tick, W the shard's clock at
// opened less ClockMargin (an entry can be stamped a little before it
// becomes visible: the test server stamps it, then writes it).
//
// W comes from our clock and the shard's offset, measured by a probe
// (HelloClock: hello's localTime): sent before, received after it, the
// shard's clock read remote in between, so the offset is at least
// remote - received. That lower bound is the conservative one.
//
// A replica set member does not qualify: its entries become visible to a
// majority read only once replicated, which can take any time after they
// were stamped. It writes a no-op every 10 s instead, which moves the
// reader's own reports; HelloClock turns the rule off there.

// Clock reads a shard's wall clock: remote, read between sent and
// received (our clock).
type Clock func(ctx context.Context) (remote, sent, received time.Time, err error)

// ErrNoClockRule, from a Clock, turns the idle clock rule off for the shard.
var ErrNoClockRule = errors.New("the idle clock rule does not hold for this server")

// HelloClock reads the clock of the server client talks to with hello
// (localTime; isMaster on servers that know no hello). On a replica set member it returns ErrNoClockRule.
func HelloClock(client *mongo.Client) Clock {
	return func(ctx context.Context) (time.Time, time.Time, time.Time, error) {
		var reply struct {
			SetName   string        `bson:"setName"`
			LocalTime bson.DateTime `bson:"localTime"`
		}
		sent := time.Now()
		raw, _, err := hello.Run(ctx, client)
		received := time.Now()
		if err == nil {
			err = bson.Unmarshal(raw, &reply)
		}
		switch {
		case err != nil:
			return time.Time{}, sent, received, err
		case reply.SetName != "":
			return time.Time{}, sent, received, fmt.Errorf("replica set %s: %w", reply.SetName, ErrNoClockRule)
		case reply.LocalTime == 0:
			return time.Time{}, sent, received, fmt.Errorf("hello gave no localTime: %w", ErrNoClockRule)
		}
		return reply.LocalTime.Time(), sent, received, nil
	}
}

// How often a shard's clock offset is measured, how long one is trusted,
// and how long a probe may take.
const (
	clockRefresh = time.Minute
	clockTrust   = 5 * time.Minute
	clockTimeout = 10 * time.Second
)

type clockState struct {
	mu      sync.Mutex
	offset  time.Duration // the shard's clock minus ours, at least
	at      time.Time     // when offset was measured (zero: never)
	tried   time.Time     // the last probe's start
	probing bool
	off     bool // ErrNoClockRule
}

// clockBound is the idle clock rule's bound for a cursor opened at opened
// (zero when the rule is off or no offset is known). A stale offset starts
// a probe in the background: reports come on the reader's goroutine.
func (g *ShardGate) clockBound(opened time.Time) bson.Timestamp {
	if g.clock == nil {
		return bson.Timestamp{}
	}
	s := &g.clk
	s.mu.Lock()
	now := time.Now()
	if !s.off && !s.probing && now.Sub(s.tried) >= clockRefresh/4 && (s.at.IsZero() || now.Sub(s.at) >= clockRefresh) {
		s.probing, s.tried = true, now
		go g.probeClock()
	}
	offset, usable := s.offset, !s.off && !s.at.IsZero() && now.Sub(s.at) < clockTrust
	s.mu.Unlock()
	if !usable {
		return bson.Timestamp{}
	}
	return idleBound(opened, offset, g.c.ClockMargin)
}

// idleBound is the ts below every entry written after our clock read
// opened on a shard whose clock is at least offset ahead of ours, less
// margin.
func idleBound(opened time.Time, offset, margin time.Duration) bson.Timestamp {
	w := opened.Add(offset - margin).Unix()
	if w <= 0 || w > int64(^uint32(0)) {
		return bson.Timestamp{}
	}
	return prevTS(bson.Timestamp{T: uint32(w)})
}

// probeClock measures the shard's clock offset once.
func (g *ShardGate) probeClock() {
	ctx, cancel := context.WithTimeout(context.Background(), clockTimeout)
	defer cancel()
	remote, _, received, err := g.clock(ctx)
	s := &g.clk
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probing = false
	switch {
	case errors.Is(err, ErrNoClockRule):
		s.off = true
		g.log.WithError(err).Info("idle shards advance by their periodic no-op, not by their clock")
	case err != nil:
		g.log.WithError(err).Debug("reading the shard's clock failed")
	default:
		s.offset, s.at = remote.Sub(received), received
	}
}
