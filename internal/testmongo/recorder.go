package testmongo

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Recording connects to the server with a client that records every
// command it sends named one of names (the client is closed at the end of
// the test); sent returns them, oldest first. For what the test server accepts
// whatever it is sent: the test reads the command instead of the answer.
func (s *Server) Recording(names ...string) (c *mongo.Client, sent func() []bson.Raw) {
	s.t.Helper()
	var mu sync.Mutex
	var cmds []bson.Raw
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if slices.Contains(names, e.CommandName) {
			mu.Lock()
			cmds = append(cmds, append(bson.Raw(nil), e.Command...))
			mu.Unlock()
		}
	}}
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetServerSelectionTimeout(20 * time.Second).SetMonitor(mon))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c, func() []bson.Raw {
		mu.Lock()
		defer mu.Unlock()
		return append([]bson.Raw(nil), cmds...)
	}
}
