package sharding

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

// Shard is one shard as listShards names it: its _id and its host string
// ("rs/h1:p,h2:p"; a bare "h:p" for a standalone shard of old clusters).
type Shard struct {
	ID       string `bson:"_id" json:"_id"`
	Host     string `bson:"host" json:"host"`
	Draining bool   `bson:"draining,omitempty" json:"draining,omitempty"`
}

// ListShards asks a mongos for its shards (listShards on admin).
func ListShards(ctx context.Context, c *mongo.Client) ([]Shard, error) {
	raw, err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "listShards", Value: 1}}).Raw()
	if err != nil {
		return nil, fmt.Errorf("listShards: %w", err)
	}
	return parseListShards(raw)
}

func parseListShards(raw bson.Raw) ([]Shard, error) {
	var reply struct {
		Shards []Shard `bson:"shards"`
	}
	if err := bson.Unmarshal(raw, &reply); err != nil {
		return nil, fmt.Errorf("listShards reply: %w", err)
	}
	if len(reply.Shards) == 0 {
		return nil, errors.New("listShards: the cluster has no shards")
	}
	seen := map[string]bool{}
	for _, s := range reply.Shards {
		if s.ID == "" || s.Host == "" {
			return nil, fmt.Errorf("listShards: a shard without _id or host: %+v", s)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("listShards: shard %q listed twice", s.ID)
		}
		seen[s.ID] = true
	}
	return reply.Shards, nil
}

// ClusterID is the cluster's id (config.version's clusterId), which names
// a cluster across its shards' and mongos' host changes; "" where the
// mongos does not let it be read.
func ClusterID(ctx context.Context, c *mongo.Client) string {
	var v struct {
		ID bson.ObjectID `bson:"clusterId"`
	}
	if err := c.Database("config").Collection("version").FindOne(ctx, bson.D{}).Decode(&v); err != nil || v.ID.IsZero() {
		return ""
	}
	return v.ID.Hex()
}

// Balancer is what a mongos says of its balancer.
type Balancer struct {
	// Mode is balancerStatus' mode: "full" moves chunks; "off" and
	// "autoSplitOnly" do not. Servers before 3.4 have no balancerStatus:
	// Mode is then "full" or "off" from config.settings' stopped flag.
	Mode string
	// InRound: a balancing round (a chunk migration) is still under way.
	InRound bool
}

// Moves reports whether chunks may move between shards now or soon.
func (b Balancer) Moves() bool {
	return b.InRound || (b.Mode != "off" && b.Mode != "autoSplitOnly")
}

// BalancerState asks a mongos for its balancer's state (balancerStatus,
// or config.settings on servers before 3.4). An error where the mongos did
// not answer is a *BalancerError; any other is an answer it cannot read.
func BalancerState(ctx context.Context, c *mongo.Client) (Balancer, error) {
	raw, err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "balancerStatus", Value: 1}}).Raw()
	if err == nil {
		return parseBalancerStatus(raw)
	}
	var ce mongo.CommandError
	if !errors.As(err, &ce) || (ce.Code != 59 && ce.Name != "CommandNotFound") {
		return Balancer{}, &BalancerError{What: "balancerStatus", Err: err}
	}
	settings := c.Database("config", options.Database().SetReadPreference(readpref.Primary())).Collection("settings")
	doc, err := settings.FindOne(ctx, bson.D{{Key: "_id", Value: "balancer"}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Balancer{Mode: "full"}, nil // never stopped: on by default
	}
	if err != nil {
		return Balancer{}, &BalancerError{What: "read config.settings (balancer)", Err: err}
	}
	return parseBalancerSettings(doc), nil
}

// BalancerError is a mongos that did not answer BalancerState: What names
// the question ("balancerStatus", "read config.settings (balancer)"), Err
// is the server's or the driver's error.
type BalancerError struct {
	What string
	Err  error
}

func (e *BalancerError) Error() string { return e.What + ": " + e.Err.Error() }

func (e *BalancerError) Unwrap() error { return e.Err }

func parseBalancerStatus(raw bson.Raw) (Balancer, error) {
	var reply struct {
		Mode    string `bson:"mode"`
		InRound bool   `bson:"inBalancerRound"`
	}
	if err := bson.Unmarshal(raw, &reply); err != nil {
		return Balancer{}, fmt.Errorf("balancerStatus reply: %w", err)
	}
	if reply.Mode == "" {
		return Balancer{}, fmt.Errorf("balancerStatus reply has no mode: %s", raw)
	}
	return Balancer{Mode: reply.Mode, InRound: reply.InRound}, nil
}

func parseBalancerSettings(doc bson.Raw) Balancer {
	if v, err := doc.LookupErr("stopped"); err == nil {
		if stopped, ok := v.BooleanOK(); ok && stopped {
			return Balancer{Mode: "off"}
		}
	}
	return Balancer{Mode: "full"}
}

// RequireBalancerOff asks a mongos for its balancer's state (BalancerState)
// and returns CheckBalancer's error while the balancer may move chunks. An
// error that wraps ErrBalancer is the balancer on; any other is the mongos
// not saying (BalancerState's error).
func RequireBalancerOff(ctx context.Context, c *mongo.Client) error {
	b, err := BalancerState(ctx, c)
	if err != nil {
		return err
	}
	return CheckBalancer(b)
}

// ErrBalancer is a balancer that may move chunks while a sharded source
// is synced shard by shard.
var ErrBalancer = errors.New("the source cluster's balancer is on")

// CheckBalancer returns ErrBalancer, with what to run, while the balancer
// may move chunks. A chunk migration writes the moved documents on one
// shard and deletes them on another; the oplog marks both fromMigrate and
// the sync skips them, but the shards' appliers run apart, so writes to a
// moved document before and after the move could land out of order.
func CheckBalancer(b Balancer) error {
	if !b.Moves() {
		return nil
	}
	var what []string
	if b.Mode != "off" && b.Mode != "autoSplitOnly" {
		what = append(what, fmt.Sprintf("its mode is %q", b.Mode))
	}
	if b.InRound {
		what = append(what, "a balancing round is under way")
	}
	return fmt.Errorf("%w (%s): stop it on a mongos with sh.stopBalancer() (or db.adminCommand({balancerStop: 1})), wait until sh.isBalancerRunning() is false, and keep it off until the cutover: %s",
		ErrBalancer, strings.Join(what, ", "), "chunks moving between shards during the sync could apply writes to a moved document out of order")
}
