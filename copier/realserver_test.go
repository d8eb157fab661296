package copier

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Every listDatabases the copy and verify send (ListSelected, and the
// copy's check of the databases sync.dbs names) carries
// authorizedDatabases: false, whatever the caller's options: a user without
// the listDatabases privilege then gets an error, not a list of only the
// databases it may read (mongodb/mongo src/mongo/db/commands/
// list_databases.cpp; the manual's listDatabases, authorizedDatabases).
// The test server accepts the field either way, so the test reads the
// commands sent.
func TestListDatabases_AlwaysAuthorizedDatabasesFalse(t *testing.T) {
	srv := testmongo.StartSource(t)
	src, sent := srv.Recording("listDatabases")
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	check := func(step string, want int) {
		t.Helper()
		cmds := sent()
		if len(cmds) < want {
			t.Fatalf("%s: %d listDatabases sent, want at least %d", step, len(cmds), want)
		}
		for _, cmd := range cmds {
			if v, ok := cmd.Lookup("authorizedDatabases").BooleanOK(); !ok || v {
				t.Errorf("%s sent %s: want authorizedDatabases: false", step, cmd)
			}
		}
	}
	all := &config.Config{}
	if err := all.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := ListSelected(ctx, src, all.Namespaces()); err != nil {
		t.Fatal(err)
	}
	check("ListSelected (verify's call)", 1)
	if _, err := ListSelected(ctx, src, all.Namespaces(), options.ListDatabases().SetAuthorizedDatabases(true)); err != nil {
		t.Fatal(err)
	}
	check("ListSelected with authorizedDatabases: true asked", 2)
	c := newCopier(t, src, testmongo.StartDest(t).Client()) // sync.dbs names shop: checkDBsExist lists too
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	check("the copy", 4)
}

// mongod's answer to listDatabases with authorizedDatabases: false from a
// user without the listDatabases action (src/mongo/db/commands/
// list_databases.cpp: uassert Unauthorized, "Insufficient permissions to
// list all databases").
var listDatabasesUnauthorized = bson.D{{Key: "ok", Value: 0.0},
	{Key: "errmsg", Value: "Insufficient permissions to list all databases"},
	{Key: "code", Value: 13}, {Key: "codeName", Value: "Unauthorized"}}

// That refusal reaches the user as an error that names the command and the
// privilege missing, from ListSelected (the copy and verify) and from the
// copy's check of sync.dbs.
func TestListDatabases_UnauthorizedNamesThePrivilege(t *testing.T) {
	ctx := context.Background()
	for _, step := range []struct {
		name string
		run  func(src *mongo.Client) error
	}{
		{"ListSelected", func(src *mongo.Client) error {
			_, err := ListSelected(ctx, src, newCopier(t, nil, nil).NS)
			return err
		}},
		{"checkDBsExist", func(src *mongo.Client) error {
			c := newCopier(t, src, nil)
			return c.checkDBsExist(ctx, nil)
		}},
	} {
		src, _ := testmongo.Replying(t, listDatabasesUnauthorized)
		err := step.run(src)
		t.Logf("%s: %v", step.name, err)
		var pe *mongoerr.PrivilegeError
		if !errors.As(err, &pe) || !mongoerr.Has(err, mongoerr.Unauthorized) {
			t.Fatalf("%s: %v; want a *mongoerr.PrivilegeError wrapping code 13", step.name, err)
		}
		for _, want := range []string{"listDatabases refused", "listDatabases action on the cluster", "readAnyDatabase",
			"Insufficient permissions to list all databases"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", step.name, err, want)
			}
		}
	}
}

// A 4.4 replica set started with enableMajorityReadConcern: false answers
// every majority read ReadConcernMajorityNotEnabled (148; mongodb/mongo
// src/mongo/base/error_codes.yml, src/mongo/db/repl/
// replication_coordinator_impl.cpp; the 4.4 manual, "Read Concern
// majority", "Disable Read Concern Majority"). The copy stops at its first
// majority read (the count) with what the setting is and why mongo-sync
// needs majority reads, and sends nothing more to the source.
func TestRun_MajorityReadsDisabledStopsExplained(t *testing.T) {
	refused := bson.D{{Key: "ok", Value: 0.0},
		{Key: "errmsg", Value: "Majority read concern requested, but server was not started with --enableMajorityReadConcern."},
		{Key: "code", Value: 148}, {Key: "codeName", Value: "ReadConcernMajorityNotEnabled"}}
	dbs := bson.D{{Key: "databases", Value: bson.A{bson.D{{Key: "name", Value: "shop"}}}}, {Key: "ok", Value: 1.0}}
	colls := bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "ns", Value: "shop.$cmd.listCollections"},
		{Key: "firstBatch", Value: bson.A{bson.D{{Key: "name", Value: "orders"}, {Key: "type", Value: "collection"},
			{Key: "options", Value: bson.D{}}, {Key: "info", Value: bson.D{{Key: "readOnly", Value: false}}}}}}}},
		{Key: "ok", Value: 1.0}}
	replies := []bson.D{dbs, colls, dbs}
	for range 8 {
		replies = append(replies, refused)
	}
	src, sent := testmongo.Replying(t, replies...)
	c := newCopier(t, src, testmongo.StartDest(t).Client())
	err := c.Run(context.Background())
	if !errors.Is(err, mongoerr.ErrNoMajorityReads) || !mongoerr.Has(err, mongoerr.ReadConcernMajorityNotEnabled) {
		t.Fatalf("Run: %v; want mongoerr.ErrNoMajorityReads wrapping code 148", err)
	}
	for _, want := range []string{"enableMajorityReadConcern: false", "shop.orders"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	// listDatabases, listCollections, listDatabases, then the count: the
	// $collStats aggregate and its fallback, the count command.
	t.Logf("the copy stopped with: %v (source sent %v)", err, sent())
	if cmds := sent(); len(cmds) > 5 {
		t.Errorf("the source was sent %v: more than the first count's two tries", cmds)
	}
}
