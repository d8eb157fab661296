package testmongo

import (
	"context"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/drivertest"
)

// Replying is a client whose server answers each command with the next of
// replies, in the shapes mongod sends (for what the test server never
// answers: a refused privilege, an old server's CommandNotFound); sent
// returns the names of the commands it was sent. It uses the driver's mock
// deployment, an internal option the driver may change.
func Replying(t testing.TB, replies ...bson.D) (c *mongo.Client, sent func() []string) {
	t.Helper()
	var mu sync.Mutex
	var names []string
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		names = append(names, e.CommandName)
		mu.Unlock()
	}}
	opts := options.Client().SetMonitor(mon)
	opts.Deployment = drivertest.NewMockDeployment(replies...) //nolint:staticcheck // the driver's mock deployment
	c, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), names...)
	}
}
