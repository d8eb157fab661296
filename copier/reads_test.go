package copier

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// hello answers as MongoDB documents them (hello / isMaster "Output" in
// the manual; rs.isMaster() in its tutorials), trimmed, and the test
// server's.
func TestMajorityOpTime_FromHello(t *testing.T) {
	cases := []struct {
		name string
		json string
		want bson.Timestamp // zero: none, read the oplog
	}{
		{"primary, protocol version 1", `{"isWritablePrimary":true,"secondary":false,"setName":"rs0","primary":"a:27017","me":"a:27017",
			"lastWrite":{"opTime":{"ts":{"$timestamp":{"t":1637547520,"i":3}},"t":{"$numberLong":"1"}},"lastWriteDate":{"$date":"2021-11-22T02:18:40Z"},
			"majorityOpTime":{"ts":{"$timestamp":{"t":1637547519,"i":1}},"t":{"$numberLong":"1"}},"majorityWriteDate":{"$date":"2021-11-22T02:18:39Z"}},
			"maxWireVersion":13,"ok":1}`, bson.Timestamp{T: 1637547519, I: 1}},
		{"isMaster of a 3.6 primary", `{"ismaster":true,"secondary":false,"setName":"myset",
			"lastWrite":{"opTime":{"ts":{"$timestamp":{"t":1515329025,"i":1}},"t":{"$numberLong":"1"}},
			"majorityOpTime":{"ts":{"$timestamp":{"t":1515329025,"i":1}},"t":{"$numberLong":"1"}}},"maxWireVersion":6,"ok":1}`,
			bson.Timestamp{T: 1515329025, I: 1}},
		{"protocol version 0: bare timestamps", `{"ismaster":true,"setName":"old",
			"lastWrite":{"opTime":{"$timestamp":{"t":1500000000,"i":7}},"majorityOpTime":{"$timestamp":{"t":1500000000,"i":5}}},"ok":1}`,
			bson.Timestamp{T: 1500000000, I: 5}},
		{"secondary", `{"isWritablePrimary":false,"secondary":true,"setName":"rs0",
			"lastWrite":{"majorityOpTime":{"ts":{"$timestamp":{"t":1637547519,"i":1}},"t":{"$numberLong":"1"}}},"ok":1}`, bson.Timestamp{}},
		{"no committed snapshot yet", `{"isWritablePrimary":true,"setName":"rs0",
			"lastWrite":{"opTime":{"ts":{"$timestamp":{"t":1637547519,"i":1}},"t":{"$numberLong":"1"}}},"ok":1}`, bson.Timestamp{}},
		{"zero optime", `{"isWritablePrimary":true,"setName":"rs0",
			"lastWrite":{"majorityOpTime":{"ts":{"$timestamp":{"t":0,"i":0}},"t":{"$numberLong":"-1"}}},"ok":1}`, bson.Timestamp{}},
		{"mongos", `{"isWritablePrimary":true,"msg":"isdbgrid","maxWireVersion":21,"ok":1}`, bson.Timestamp{}},
		{"test server (FerretDB 1.24.2)", `{"readOnly":false,"maxWriteBatchSize":100000,"connectionId":42,"maxWireVersion":21,"ok":1.0,
			"isWritablePrimary":true,"maxBsonObjectSize":16777216,"maxMessageSizeBytes":48000000,
			"localTime":{"$date":"2026-11-30T12:55:21.307Z"},"logicalSessionTimeoutMinutes":30,"minWireVersion":0}`, bson.Timestamp{}},
	}
	for _, tc := range cases {
		var raw bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(tc.json), false, &raw); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, ok := majorityOpTime(raw)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, got, ok, tc.want)
		}
	}
}

// On the test server (no lastWrite) Newest reads the oplog's newest entry.
func TestNewestVia_TestServerReadsTheOplog(t *testing.T) {
	srv := testmongo.StartSource(t)
	ctx := context.Background()
	c := srv.Client()
	insertDocs(t, c.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	ts, via, err := NewestVia(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Real {
		t.Logf("read via %s: %v", via, ts)
		return
	}
	if via != "the oplog's newest entry" || ts.IsZero() {
		t.Errorf("%v via %s, want the oplog's newest entry", ts, via)
	}
}

// A source that cannot be reached is an error of hello itself: NewestVia
// neither asks isMaster nor reads the oplog after it (each would wait for
// the server again), and the error says which read failed.
func TestNewestVia_UnreachableSourceIsHellosError(t *testing.T) {
	srv := testmongo.StartSource(t)
	c, err := mongo.Connect(options.Client().ApplyURI(srv.URI).SetServerSelectionTimeout(300 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	srv.Kill()
	_, _, err = NewestVia(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "source hello") {
		t.Fatalf("NewestVia of a killed source: %v; want hello's error", err)
	}
}
