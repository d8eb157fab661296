package sharding

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func mustRaw(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// listShards' reply as mongos writes it (4.x–8.x): _id, host, state, and
// draining while a shard is being removed.
func TestParseListShards(t *testing.T) {
	raw := mustRaw(t, bson.D{
		{Key: "shards", Value: bson.A{
			bson.D{{Key: "_id", Value: "shard01"}, {Key: "host", Value: "shard01/a:27018,b:27018"}, {Key: "state", Value: 1}, {Key: "topologyTime", Value: bson.Timestamp{T: 1, I: 2}}},
			bson.D{{Key: "_id", Value: "shard02"}, {Key: "host", Value: "shard02/c:27018"}, {Key: "state", Value: 1}, {Key: "draining", Value: true}},
		}},
		{Key: "ok", Value: 1.0},
	})
	got, err := parseListShards(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (Shard{ID: "shard01", Host: "shard01/a:27018,b:27018"}) || !got[1].Draining {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []bson.D{
		{{Key: "shards", Value: bson.A{}}},
		{{Key: "shards", Value: bson.A{bson.D{{Key: "_id", Value: "s"}}}}},
		{{Key: "shards", Value: bson.A{bson.D{{Key: "_id", Value: "s"}, {Key: "host", Value: "s/a:1"}}, bson.D{{Key: "_id", Value: "s"}, {Key: "host", Value: "s/b:1"}}}}},
	} {
		if _, err := parseListShards(mustRaw(t, bad)); err == nil {
			t.Errorf("no error for %v", bad)
		}
	}
}

// balancerStatus (3.4+) and config.settings (before): only "off" or
// "autoSplitOnly" with no round under way lets a sync start.
func TestBalancer(t *testing.T) {
	cases := []struct {
		reply bson.D
		moves bool
	}{
		{bson.D{{Key: "mode", Value: "full"}, {Key: "inBalancerRound", Value: false}, {Key: "ok", Value: 1.0}}, true},
		{bson.D{{Key: "mode", Value: "off"}, {Key: "inBalancerRound", Value: false}, {Key: "ok", Value: 1.0}}, false},
		{bson.D{{Key: "mode", Value: "off"}, {Key: "inBalancerRound", Value: true}, {Key: "ok", Value: 1.0}}, true},
		{bson.D{{Key: "mode", Value: "autoSplitOnly"}, {Key: "inBalancerRound", Value: false}}, false},
	}
	for _, c := range cases {
		b, err := parseBalancerStatus(mustRaw(t, c.reply))
		if err != nil {
			t.Fatal(err)
		}
		err = CheckBalancer(b)
		if b.Moves() != c.moves || (err != nil) != c.moves {
			t.Errorf("%v: moves %v, err %v", c.reply, b.Moves(), err)
		}
		if err != nil && (!errors.Is(err, ErrBalancer) || !strings.Contains(err.Error(), "sh.stopBalancer()")) {
			t.Errorf("%v: the error does not name what stops the balancer: %v", c.reply, err)
		}
	}
	if _, err := parseBalancerStatus(mustRaw(t, bson.D{{Key: "ok", Value: 1.0}})); err == nil {
		t.Error("a reply without mode is no error")
	}
	if b := parseBalancerSettings(mustRaw(t, bson.D{{Key: "_id", Value: "balancer"}, {Key: "stopped", Value: true}})); b.Moves() {
		t.Errorf("stopped: true: %+v", b)
	}
	if b := parseBalancerSettings(mustRaw(t, bson.D{{Key: "_id", Value: "balancer"}, {Key: "stopped", Value: false}})); !b.Moves() {
		t.Errorf("stopped: false: %+v", b)
	}
}

// RequireBalancerOff's callers tell a balancer that moves chunks (an
// error wrapping ErrBalancer) from a mongos that did not say (any other:
// the sync's watch goes on). Not asked at all must be the latter; the
// balancer's own states are TestBalancer's (a reply needs a mongos).
func TestRequireBalancerOff_NotAsked(t *testing.T) {
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing is sent
	err = RequireBalancerOff(ctx, c)
	if err == nil || errors.Is(err, ErrBalancer) {
		t.Fatalf("a mongos not asked: %v", err)
	}
}
