package verify

import (
	"context"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// verify lists the source's databases (a replica set, and each shard read
// directly) with authorizedDatabases: false, as the copy does: a user
// without the listDatabases privilege gets an error instead of a list of
// only the databases it may read, which verify would take for the whole
// source (mongodb/mongo src/mongo/db/commands/list_databases.cpp; the
// manual's listDatabases, authorizedDatabases). The test server accepts
// the field either way, so the test reads the commands sent.
func TestListSelected_AuthorizedDatabasesFalse(t *testing.T) {
	srv := testmongo.StartSource(t)
	src, sent := srv.Recording("listDatabases")
	ctx := context.Background()
	if _, err := src.Database("shop").Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*Verifier{{Src: src, NS: cfg.Namespaces()}, {Shards: []*mongo.Client{src}, NS: cfg.Namespaces()}} {
		if _, err := v.listSelected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cmds := sent()
	if len(cmds) != 2 {
		t.Fatalf("%d listDatabases sent, want 2", len(cmds))
	}
	for _, cmd := range cmds {
		if v, ok := cmd.Lookup("authorizedDatabases").BooleanOK(); !ok || v {
			t.Errorf("verify sent %s: want authorizedDatabases: false", cmd)
		}
	}
}
