package copier

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// rangeScan is the source planner's answer for an _id range query on one
// collection: whether it reads only the range (an index, or a clustered
// collection's bounded scan) and why. Splitting a collection into _id
// ranges pays only then: where each range query scans the whole
// collection, k ranges read it k times (on the test server, 261 ms of
// source CPU per 1,000 documents split against 57 as one range).
type rangeScan struct {
	index bool
	why   string
}

// Stage names of MongoDB's explain output that read only an _id range.
// IXSCAN: an index scan (FETCH above it); IDHACK (up to 7.0) and
// EXPRESS_IXSCAN / EXPRESS_CLUSTERED_IXSCAN (8.0) answer _id equality;
// CLUSTERED_IXSCAN is a clustered collection's scan bounded by minRecord /
// maxRecord (5.3 printed it as a COLLSCAN carrying those bounds, see
// boundedCollscan).
var indexStages = map[string]bool{
	"IXSCAN": true, "IDHACK": true, "EXPRESS_IXSCAN": true,
	"EXPRESS_CLUSTERED_IXSCAN": true, "CLUSTERED_IXSCAN": true,
}

// explainRange asks the source's planner, once per collection, how it
// would run a find on an _id range around a real _id of the collection
// (from its first document in natural order, which every server reads
// without a sort): {_id: {$gte: v, $lte: v}}, a range, not an equality
// (which MongoDB answers by a fast path of its own). MaxKey as the upper
// bound would be closer to a last range, but the test server drops the
// connection on it. An empty
// collection, an explain the server refuses, or an answer this code does
// not understand count as "not an index scan": copying one range is never
// much slower than the best split, scanning once per range can be.
func explainRange(ctx context.Context, c *mongo.Collection) rangeScan {
	raw, err := c.FindOne(ctx, bson.D{}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return rangeScan{why: "no documents"}
	}
	if err != nil {
		return rangeScan{why: fmt.Sprintf("reading a first _id failed: %v", err)}
	}
	id := raw.Lookup("_id")
	find := bson.D{{Key: "find", Value: c.Name()}, {Key: "filter", Value: bson.D{{Key: "_id", Value: bson.D{
		{Key: "$gte", Value: id}, {Key: "$lte", Value: id}}}}}}
	out, err := c.Database().RunCommand(ctx, bson.D{{Key: "explain", Value: find}, {Key: "verbosity", Value: "queryPlanner"}},
		options.RunCmd().SetReadPreference(readpref.Primary())).Raw()
	if err != nil {
		return rangeScan{why: fmt.Sprintf("explain failed: %v", err)}
	}
	return classifyPlan(out)
}

// classifyPlan reads an explain answer (queryPlanner verbosity). MongoDB's
// winning plan is a tree of stages: winningPlan.stage with inputStage /
// inputStages below it; the slot-based engine (5.0+) nests the same tree
// under winningPlan.queryPlan; a mongos lists each shard's plan under
// winningPlan.shards[].winningPlan. The plan is an index scan when some
// stage reads an index (indexStages) and none scans the collection.
// Any other shape (FerretDB answers queryPlanner.Plan, SQLite's plan
// lines, and says filterPushdown: false when it filters in memory) is not
// known to be one.
func classifyPlan(explain bson.Raw) rangeScan {
	wp, ok := explain.Lookup("queryPlanner", "winningPlan").DocumentOK()
	if !ok {
		why := "the planner's answer has no queryPlanner.winningPlan"
		if p, ok := explain.Lookup("filterPushdown").BooleanOK(); ok && !p {
			why += " (filterPushdown: false, the server filters every document in memory)"
		}
		return rangeScan{why: why}
	}
	var stages []string
	collscan := false
	walkPlan(wp, func(stage bson.Raw) {
		name, _ := stage.Lookup("stage").StringValueOK()
		switch {
		case name == "COLLSCAN" && boundedCollscan(stage):
			name = "COLLSCAN(bounded)"
		case name == "COLLSCAN":
			collscan = true
		}
		stages = append(stages, name)
	})
	index := false
	for _, s := range stages {
		index = index || indexStages[s] || s == "COLLSCAN(bounded)"
	}
	plan := strings.Join(stages, " > ")
	switch {
	case collscan:
		return rangeScan{why: "winning plan " + plan + " scans the collection"}
	case index:
		return rangeScan{index: true, why: "winning plan " + plan}
	case plan == "":
		return rangeScan{why: "the winning plan names no stage"}
	}
	return rangeScan{why: "winning plan " + plan + " reads no index"}
}

// boundedCollscan: a clustered collection's scan of an _id range, as
// MongoDB 5.3 printed it (a COLLSCAN with minRecord / maxRecord bounds).
func boundedCollscan(stage bson.Raw) bool {
	return stage.Lookup("minRecord").Type != 0 || stage.Lookup("maxRecord").Type != 0
}

// walkPlan calls f on every stage of a plan tree, parents first.
func walkPlan(node bson.Raw, f func(bson.Raw)) {
	if qp, ok := node.Lookup("queryPlan").DocumentOK(); ok { // slot-based engine
		walkPlan(qp, f)
		return
	}
	if _, ok := node.Lookup("stage").StringValueOK(); ok {
		f(node)
	}
	if in, ok := node.Lookup("inputStage").DocumentOK(); ok {
		walkPlan(in, f)
	}
	for _, key := range []string{"inputStages", "shards"} {
		arr, ok := node.Lookup(key).ArrayOK()
		if !ok {
			continue
		}
		vals, _ := arr.Values()
		for _, v := range vals {
			d, ok := v.DocumentOK()
			if !ok {
				continue
			}
			if sw, ok := d.Lookup("winningPlan").DocumentOK(); ok { // a shard of a mongos plan
				d = sw
			}
			walkPlan(d, f)
		}
	}
}
