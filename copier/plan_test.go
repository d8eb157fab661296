package copier

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Explain answers (queryPlanner verbosity) for an _id range find, in the
// shapes MongoDB documents ("Explain Results" in the manual, per version)
// and its own tests assert (jstests: planHasStage / getPlanStage on
// CLUSTERED_IXSCAN, EXPRESS_*), trimmed to the fields that matter, and
// what the test server (FerretDB 1.24.2 on SQLite) returned here.
var explainCases = []struct {
	name  string
	json  string
	index bool
}{
	{"4.4 classic: FETCH over IXSCAN on _id_", `{"explainVersion":"1","queryPlanner":{"plannerVersion":1,"namespace":"shop.orders",
		"winningPlan":{"stage":"FETCH","inputStage":{"stage":"IXSCAN","keyPattern":{"_id":1},"indexName":"_id_","isMultiKey":false,
		"direction":"forward","indexBounds":{"_id":["[1, 2)"]}}},"rejectedPlans":[]},"ok":1}`, true},
	{"7.0 slot-based engine: the tree under queryPlan", `{"explainVersion":"2","queryPlanner":{"namespace":"shop.orders",
		"winningPlan":{"queryPlan":{"stage":"FETCH","planNodeId":2,"inputStage":{"stage":"IXSCAN","planNodeId":1,"keyPattern":{"_id":1},
		"indexName":"_id_","direction":"forward","indexBounds":{"_id":["[1, 2)"]}}},"slotBasedPlan":{"slots":"$$RESULT=s5","stages":"..."}},
		"rejectedPlans":[]},"ok":1}`, true},
	{"3.6 IDHACK", `{"queryPlanner":{"plannerVersion":1,"winningPlan":{"stage":"IDHACK"},"rejectedPlans":[]},"ok":1}`, true},
	{"8.0 EXPRESS_IXSCAN (keyPattern printed as a string)", `{"explainVersion":"1","queryPlanner":{"winningPlan":{"isCached":false,
		"stage":"EXPRESS_IXSCAN","keyPattern":"{ _id: 1 }","indexName":"_id_"},"rejectedPlans":[]},"ok":1}`, true},
	{"7.0 clustered collection: CLUSTERED_IXSCAN", `{"queryPlanner":{"winningPlan":{"stage":"CLUSTERED_IXSCAN",
		"filter":{"$and":[{"_id":{"$lt":2}},{"_id":{"$gte":1}}]},"direction":"forward","minRecord":1,"maxRecord":2},"rejectedPlans":[]},"ok":1}`, true},
	{"5.3 clustered collection: COLLSCAN with minRecord/maxRecord", `{"queryPlanner":{"winningPlan":{"stage":"COLLSCAN",
		"direction":"forward","minRecord":1,"maxRecord":2},"rejectedPlans":[]},"ok":1}`, true},
	{"mongos: each shard's plan under shards", `{"queryPlanner":{"mongosPlannerVersion":1,"winningPlan":{"stage":"SINGLE_SHARD",
		"shards":[{"shardName":"rs0","winningPlan":{"stage":"FETCH","inputStage":{"stage":"SHARDING_FILTER","inputStage":
		{"stage":"IXSCAN","keyPattern":{"_id":1},"indexName":"_id_"}}}}]}},"ok":1}`, true},

	{"capped collection without an _id index: COLLSCAN", `{"queryPlanner":{"namespace":"local.oplog.rs","winningPlan":{"stage":"COLLSCAN",
		"filter":{"$and":[{"_id":{"$lt":2}},{"_id":{"$gte":1}}]},"direction":"forward"},"rejectedPlans":[]},"ok":1}`, false},
	{"7.0 slot-based COLLSCAN", `{"explainVersion":"2","queryPlanner":{"winningPlan":{"queryPlan":{"stage":"COLLSCAN","planNodeId":1,
		"filter":{"_id":{"$gte":1}},"direction":"forward"},"slotBasedPlan":{"slots":"","stages":""}}},"ok":1}`, false},
	{"mongos: one shard scans", `{"queryPlanner":{"winningPlan":{"stage":"SHARD_MERGE","shards":[
		{"shardName":"a","winningPlan":{"stage":"FETCH","inputStage":{"stage":"IXSCAN","indexName":"_id_"}}},
		{"shardName":"b","winningPlan":{"stage":"SHARDING_FILTER","inputStage":{"stage":"COLLSCAN","direction":"forward"}}}]}},"ok":1}`, false},
	{"collection gone: EOF", `{"queryPlanner":{"winningPlan":{"stage":"EOF"},"rejectedPlans":[]},"ok":1}`, false},
	{"test server (FerretDB 1.24.2, SQLite)", `{"queryPlanner":{"Plan":["id=2 parent=0 notused=0 detail=SCAN orders_325e96ec"]},
		"explainVersion":"1","command":{"find":"orders","filter":{"_id":{"$gte":1,"$lt":2}},"$db":"shop"},
		"serverInfo":{"host":"vm","version":"7.0.42","gitVersion":"unknown","ferretdbVersion":"unknown"},
		"filterPushdown":false,"sortPushdown":false,"limitPushdown":false,"ok":1}`, false},
	{"no plan at all", `{"ok":1}`, false},
	{"a winning plan without stages", `{"queryPlanner":{"winningPlan":{}},"ok":1}`, false},
}

func TestClassifyPlan_IndexScansOnly(t *testing.T) {
	for _, tc := range explainCases {
		var raw bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(tc.json), false, &raw); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := classifyPlan(raw)
		if got.index != tc.index {
			t.Errorf("%s: index scan %v (%s), want %v", tc.name, got.index, got.why, tc.index)
		}
		if got.why == "" {
			t.Errorf("%s: no reason given", tc.name)
		}
	}
}

// The test server runs every _id range query as a full scan: a collection
// over split_docs is copied as one range there, the decision and its
// reason logged, and every document arrives.
func TestCopy_OneRangeWhereRangesScan(t *testing.T) {
	srv := testmongo.StartSource(t)
	if !srv.TestServer {
		t.Skip("MONGO_SYNC_TEST_SRC is a MongoDB, which answers _id ranges from its index")
	}
	ctx := context.Background()
	src, dst := srv.Client(), testmongo.StartDest(t).Client()
	var docs []bson.D
	for i := range 3000 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i}})
	}
	insertDocs(t, src.Database("shop").Collection("orders"), docs...)
	plan := explainRange(ctx, sourceCollection(src, "shop", "orders"))
	if plan.index || !strings.Contains(plan.why, "filterPushdown: false") {
		t.Fatalf("test server plan: %+v, want not an index scan, for filterPushdown false", plan)
	}

	c := newCopier(t, src, dst) // SplitDocs 1000: three ranges if it split
	logs := captureLog(c)
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	raw, _ := c.Store.Split("shop.orders")
	if bounds, _ := bson.Raw(raw).Values(); len(bounds) != 0 {
		t.Errorf("split at %d bounds on a server without _id index scans", len(bounds))
	}
	if !strings.Contains(logs.String(), "not an index scan on the source: copying as one range") {
		t.Errorf("the decision was not logged:\n%s", logs)
	}
	if n, _ := dst.Database("shop").Collection("orders").CountDocuments(ctx, bson.D{}); n != 3000 {
		t.Errorf("%d documents copied, want 3000", n)
	}

	// split = "always" still splits (the range tests depend on it).
	if err := dst.Database("shop").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	c = newCopier(t, src, dst)
	c.SplitAlways = true
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	raw, _ = c.Store.Split("shop.orders")
	if bounds, _ := bson.Raw(raw).Values(); len(bounds) != 2 {
		t.Errorf("SplitAlways: %d bounds, want 2", len(bounds))
	}
}

// captureLog points c's log at a buffer, safe for its workers.
func captureLog(c *Copier) *lockedBuffer {
	b := &lockedBuffer{}
	l := logrus.New()
	l.SetOutput(b)
	c.Log = l
	return b
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
