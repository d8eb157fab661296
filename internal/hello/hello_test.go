package hello

import (
	"context"
	"slices"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// mongod's answers (mongodb/mongo src/mongo/base/error_codes.yml): 4.4.0
// and 4.4.1 know no hello; a server shutting down refuses every command.
var (
	noSuchCommand = bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "no such command: 'hello'"},
		{Key: "code", Value: 59}, {Key: "codeName", Value: "CommandNotFound"}}
	shuttingDown = bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "The server is in quiesce mode and will shut down"},
		{Key: "code", Value: 91}, {Key: "codeName", Value: "ShutdownInProgress"}}
	isMaster = bson.D{{Key: "ismaster", Value: true}, {Key: "msg", Value: "isdbgrid"}, {Key: "maxWireVersion", Value: 9}, {Key: "ok", Value: 1.0}}
)

func TestRun_FallsBackToIsMasterOnlyWhereHelloIsUnknown(t *testing.T) {
	cases := []struct {
		name     string
		replies  []bson.D
		wantCmd  string
		wantCode int // 0: no error
		wantSent []string
	}{
		{"hello known", []bson.D{isMaster}, "hello", 0, []string{"hello"}},
		{"hello unknown (4.4.0)", []bson.D{noSuchCommand, isMaster}, "isMaster", 0, []string{"hello", "isMaster"}},
		{"hello refused otherwise", []bson.D{shuttingDown, isMaster}, "hello", 91, []string{"hello"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, sent := testmongo.Replying(t, tc.replies...)
			reply, cmd, err := Run(context.Background(), c)
			if cmd != tc.wantCmd || !slices.Equal(sent(), tc.wantSent) {
				t.Errorf("answered by %s, sent %v; want %s, %v", cmd, sent(), tc.wantCmd, tc.wantSent)
			}
			if tc.wantCode != 0 {
				if !mongoerr.Has(err, tc.wantCode) {
					t.Errorf("error %v, want code %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg, _ := reply.Lookup("msg").StringValueOK(); msg != "isdbgrid" {
				t.Errorf("reply %v", reply)
			}
		})
	}
}
