package sharding

import (
	"context"
	"slices"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
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
