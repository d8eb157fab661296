package gate

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A shard on mongod 4.4.0 or 4.4.1 answers hello CommandNotFound (59); its
// clock is read from isMaster's localTime instead (the manual's isMaster
// page: localTime, a date, on every member).
func TestHelloClock_IsMasterWhereHelloIsUnknown(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	client, sent := testmongo.Replying(t,
		bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "no such command: 'hello'"},
			{Key: "code", Value: 59}, {Key: "codeName", Value: "CommandNotFound"}},
		bson.D{{Key: "ismaster", Value: true}, {Key: "localTime", Value: bson.NewDateTimeFromTime(at)},
			{Key: "maxWireVersion", Value: 9}, {Key: "ok", Value: 1.0}})
	got, _, _, err := HelloClock(client)(context.Background())
	if err != nil || !got.Equal(at) {
		t.Fatalf("clock = %v, %v; want %v (sent %v)", got, err, at, sent())
	}
	if want := []string{"hello", "isMaster"}; !slices.Equal(sent(), want) {
		t.Fatalf("sent %v, want %v", sent(), want)
	}
}
