package reader

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// MongoDB 4.4.0 and 4.4.1 (and 4.2 before 4.2.10) know no hello: they
// answer CommandNotFound, "no such command: 'hello'" (mongodb/mongo
// src/mongo/db/service_entry_point_common.cpp). checkSource then asks
// isMaster, as the copier does, and identifies the replica set from it
// (isMaster's reply as the manual's "isMaster" page shows it, trimmed).
func TestCheckSource_HelloUnknownFallsBackToIsMaster(t *testing.T) {
	client, sent := testmongo.Replying(t,
		bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "no such command: 'hello'"},
			{Key: "code", Value: 59}, {Key: "codeName", Value: "CommandNotFound"}},
		bson.D{{Key: "ismaster", Value: true}, {Key: "secondary", Value: false}, {Key: "setName", Value: "rs0"},
			{Key: "hosts", Value: bson.A{"a.example.net:27017", "b.example.net:27017"}},
			{Key: "me", Value: "a.example.net:27017"}, {Key: "maxWireVersion", Value: 9}, {Key: "ok", Value: 1.0}},
		bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "ns", Value: "local.$cmd.listCollections"},
			{Key: "firstBatch", Value: bson.A{bson.D{{Key: "name", Value: "oplog.rs"}, {Key: "type", Value: "collection"}}}}}},
			{Key: "ok", Value: 1.0}})
	id, err := checkSource(context.Background(), client)
	if err != nil {
		t.Fatalf("checkSource: %v (sent %v)", err, sent())
	}
	if id != replicaSetID+"rs0" {
		t.Errorf("identity %q, want %q", id, replicaSetID+"rs0")
	}
	if want := []string{"hello", "isMaster", "listCollections"}; !slices.Equal(sent(), want) {
		t.Errorf("sent %v, want %v", sent(), want)
	}
}

// A 4.4 replica set started with enableMajorityReadConcern: false answers
// every majority read ReadConcernMajorityNotEnabled (148; mongodb/mongo
// src/mongo/base/error_codes.yml, src/mongo/db/repl/
// replication_coordinator_impl.cpp; the 4.4 manual, "Read Concern
// majority", "Disable Read Concern Majority"). The reader stops at once,
// explained, where it retried it forever: from its first query of the
// oplog (a given start), and from its look-up of the newest entry.
func TestProduce_MajorityReadsDisabledStops(t *testing.T) {
	refused := bson.D{{Key: "ok", Value: 0.0},
		{Key: "errmsg", Value: "Majority read concern requested, but server was not started with --enableMajorityReadConcern."},
		{Key: "code", Value: 148}, {Key: "codeName", Value: "ReadConcernMajorityNotEnabled"}}
	for _, c := range []struct {
		name  string
		start bson.Timestamp
	}{
		{"tailing from a given start", bson.Timestamp{T: 1700000000, I: 1}},
		{"finding the newest entry", bson.Timestamp{}},
	} {
		client, sent := testmongo.Replying(t, refused, refused, refused)
		o := &OplogSource{Client: client, Start: c.start, StartFrom: "the test", Log: testlog.Quiet()}
		// A bound, not a measure: without the fix produce retries until it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := o.produce(ctx, nil, func(bson.Raw) error { return nil })
		cancel()
		if !errors.Is(err, mongoerr.ErrNoMajorityReads) || !mongoerr.Has(err, mongoerr.ReadConcernMajorityNotEnabled) {
			t.Fatalf("%s: produce = %v; want mongoerr.ErrNoMajorityReads wrapping code 148", c.name, err)
		}
		if !strings.Contains(err.Error(), "enableMajorityReadConcern: false") {
			t.Errorf("%s: %q does not name the setting", c.name, err)
		}
		if n := len(sent()); n != 1 {
			t.Errorf("%s: %d commands sent (%v), want the one refused", c.name, n, sent())
		}
	}
}
