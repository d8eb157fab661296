package cutover

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/mongoconn"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// errNoWriteBlock: the source has no setUserWriteBlockMode.
var errNoWriteBlock = errors.New("the source does not support setUserWriteBlockMode (MongoDB 6.0 and later have it): " +
	"stop the application's writes to the source yourself, then run cutover without --block-writes")

// setWriteBlock blocks or unblocks user writes on the source.
func setWriteBlock(ctx context.Context, src *mongo.Client, on bool) error {
	err := src.Database("admin").RunCommand(ctx, bson.D{{Key: "setUserWriteBlockMode", Value: 1}, {Key: "global", Value: on}}).Err()
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == 59 || ce.HasErrorLabel("CommandNotFound") || strings.Contains(strings.ToLower(ce.Message), "no such command")) {
		return errNoWriteBlock
	}
	if err != nil {
		verb := "block"
		if !on {
			verb = "unblock"
		}
		return fmt.Errorf("%s the source's user writes (setUserWriteBlockMode): %w", verb, err)
	}
	return nil
}

// writeBlocker is where setUserWriteBlockMode goes: the source, or for a
// sharded source its mongos (src.uri / src.hosts), which blocks the whole
// cluster; done disconnects what it connected.
func writeBlocker(ctx context.Context, cfg *config.Config, sd *sides) (*mongo.Client, func(), error) {
	if len(sd.shards) == 0 {
		return sd.srcs[0], func() {}, nil
	}
	if cfg.Src.Empty() {
		return nil, nil, errors.New("--block-writes on a sharded source needs its mongos in src.uri (or src.hosts): " +
			"user writes are blocked cluster-wide through the mongos; or stop the application's writes yourself and run cutover without --block-writes")
	}
	c, err := mongoconn.Plain(ctx, cfg.Src)
	if err != nil {
		return nil, nil, err
	}
	return c, func() {
		if ctx.Err() != nil {
			go c.Disconnect(context.Background()) // see connectWithin
			return
		}
		c.Disconnect(context.Background())
	}, nil
}
