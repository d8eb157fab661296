package sharding

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// IsMongos asks isMaster only where hello is unknown (CommandNotFound:
// mongod 4.4.0 and 4.4.1; mongodb/mongo src/mongo/base/error_codes.yml).
// Any other error of hello is the answer: a mongos shutting down (91,
// retryable) was asked isMaster after it, and that answer, or its
// error, replaced hello's.
func TestIsMongos_FallsBackOnlyWhereHelloIsUnknown(t *testing.T) {
	mongos := bson.D{{Key: "ismaster", Value: true}, {Key: "msg", Value: "isdbgrid"}, {Key: "maxWireVersion", Value: 9}, {Key: "ok", Value: 1.0}}
	refused := func(code int32, name, msg string) bson.D {
		return bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: msg}, {Key: "code", Value: code}, {Key: "codeName", Value: name}}
	}
	cases := []struct {
		name     string
		replies  []bson.D
		want     bool
		wantCode int // 0: no error
		wantSent []string
	}{
		{"hello unknown", []bson.D{refused(59, "CommandNotFound", "no such command: 'hello'"), mongos}, true, 0, []string{"hello", "isMaster"}},
		{"hello refused: shutting down", []bson.D{refused(91, "ShutdownInProgress", "The server is in quiesce mode and will shut down"), mongos},
			false, 91, []string{"hello"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, sent := testmongo.Replying(t, tc.replies...)
			got, err := IsMongos(context.Background(), c)
			if tc.wantCode != 0 && !mongoerr.Has(err, tc.wantCode) || tc.wantCode == 0 && err != nil {
				t.Errorf("IsMongos: %v, %v; want the error code %d", got, err, tc.wantCode)
			}
			if got != tc.want || !slices.Equal(sent(), tc.wantSent) {
				t.Errorf("IsMongos = %v after sending %v; want %v after %v", got, sent(), tc.want, tc.wantSent)
			}
		})
	}
}

// The router's question at a command's start is asked again after an
// error a moment may cure (a mongos shutting down: ShutdownInProgress, 91,
// in the RetriableError category of mongodb/mongo
// src/mongo/base/error_codes.yml), not after one it cannot (Unauthorized,
// 13); when the deadline ends the retries, the error is the server's.
func TestWhetherMongos_RetriesWhatAMomentCures(t *testing.T) {
	mongos := bson.D{{Key: "isWritablePrimary", Value: true}, {Key: "msg", Value: "isdbgrid"}, {Key: "maxWireVersion", Value: 25}, {Key: "ok", Value: 1.0}}
	refused := func(code int32, name, msg string) bson.D {
		return bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: msg}, {Key: "code", Value: code}, {Key: "codeName", Value: name}}
	}
	quiesce := refused(91, "ShutdownInProgress", "The server is in quiesce mode and will shut down")
	cases := []struct {
		name     string
		replies  []bson.D
		within   time.Duration
		want     bool
		wantCode int // 0: no error
		wantSent int // hellos sent; 0: at least two
	}{
		{"shutting down, then answers", []bson.D{quiesce, quiesce, mongos}, 10 * time.Second, true, 0, 3},
		{"unauthorized", []bson.D{refused(13, "Unauthorized", "command hello requires authentication"), mongos}, 10 * time.Second, false, 13, 1},
		{"shutting down past the deadline", slices.Repeat([]bson.D{quiesce}, 100), 500 * time.Millisecond, false, 91, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, sent := testmongo.Replying(t, tc.replies...)
			ctx, cancel := context.WithTimeout(context.Background(), tc.within)
			defer cancel()
			got, err := WhetherMongos(ctx, c, testlog.Quiet())
			if tc.wantCode != 0 && !mongoerr.Has(err, tc.wantCode) || tc.wantCode == 0 && err != nil {
				t.Errorf("WhetherMongos: %v, %v; want the error code %d", got, err, tc.wantCode)
			}
			n := len(sent())
			if got != tc.want || tc.wantSent != 0 && n != tc.wantSent || tc.wantSent == 0 && n < 2 {
				t.Errorf("WhetherMongos = %v after %d commands %v; want %v after %d (0: at least 2)", got, n, sent(), tc.want, tc.wantSent)
			}
		})
	}
}
