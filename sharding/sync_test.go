package sharding

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
)

// The test server is no mongos: the option's error names itself and the side.
func TestSync_DestinationNotMongos(t *testing.T) {
	s := testmongo.StartDest(t)
	if s.Real {
		t.Skip("MONGO_SYNC_TEST_DST is set: it may be a mongos")
	}
	c := s.Client()
	if ok, err := IsMongos(context.Background(), c); err != nil || ok {
		t.Fatalf("IsMongos = %v, %v", ok, err)
	}
	err := Sync(context.Background(), c, c, nil, testlog.Quiet())
	if !errors.Is(err, ErrNotMongos) || !strings.Contains(err.Error(), Option) || !strings.Contains(err.Error(), "destination") {
		t.Fatalf("got %v", err)
	}
}
