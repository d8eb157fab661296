package sharding

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The test server is no mongos: the option's error names itself and the side.
func TestSync_DestinationNotMongos(t *testing.T) {
	s := testmongo.StartDest(t)
	if !s.TestServer {
		t.Skip("MONGO_SYNC_TEST_DST is a MongoDB, which may be a mongos")
	}
	c := s.Client()
	if ok, err := IsMongos(context.Background(), c); err != nil || ok {
		t.Fatalf("IsMongos = %v, %v", ok, err)
	}
	err := Sync(context.Background(), c, c, nil, testlog.Quiet())
	if !errors.Is(err, ErrNotMongos) || !strings.Contains(err.Error(), Option) || !strings.Contains(err.Error(), "destination") {
		t.Fatalf("got %v", err)
	}
}

// With a mongos on both sides (mongod's replies, trimmed, in the shapes the
// manual shows: hello's msg "isdbgrid", a find's and listCollections'
// cursor), Sync creates each collection with the source's options before
// sharding it, and a create that finds the collection there
// (NamespaceExists, 48: a restart) is no error.
func TestSync_CreatesBeforeSharding(t *testing.T) {
	mongos := bson.D{{Key: "ismaster", Value: true}, {Key: "msg", Value: "isdbgrid"}, {Key: "maxWireVersion", Value: 21}, {Key: "ok", Value: 1.0}}
	cursor := func(ns string, docs ...bson.D) bson.D {
		batch := bson.A{}
		for _, d := range docs {
			batch = append(batch, d)
		}
		return bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "ns", Value: ns}, {Key: "firstBatch", Value: batch}}}, {Key: "ok", Value: 1.0}}
	}
	ok := bson.D{{Key: "ok", Value: 1.0}}
	src, srcSent := testmongo.Replying(t, mongos,
		cursor("config.collections", bson.D{{Key: "_id", Value: "app.orders"}, {Key: "lastmodEpoch", Value: bson.NewObjectID()},
			{Key: "key", Value: bson.D{{Key: "region", Value: int32(1)}}}, {Key: "unique", Value: false}}),
		cursor("app.$cmd.listCollections", bson.D{{Key: "name", Value: "orders"}, {Key: "type", Value: "collection"},
			{Key: "options", Value: bson.D{{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}}}}},
			{Key: "info", Value: bson.D{{Key: "readOnly", Value: false}}}}))
	dst, dstSent := testmongo.Replying(t, mongos,
		cursor("config.collections"),
		ok, // enableSharding
		bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "Collection app.orders already exists."},
			{Key: "code", Value: int32(48)}, {Key: "codeName", Value: "NamespaceExists"}},
		ok) // shardCollection
	if err := Sync(context.Background(), src, dst, nil, testlog.Quiet()); err != nil {
		t.Fatalf("Sync: %v (source sent %v, destination %v)", err, srcSent(), dstSent())
	}
	if want := []string{"hello", "find", "enableSharding", "create", "shardCollection"}; !slices.Equal(dstSent(), want) {
		t.Fatalf("destination sent %v, want %v", dstSent(), want)
	}
	if want := []string{"hello", "find", "listCollections"}; !slices.Equal(srcSent(), want) {
		t.Fatalf("source sent %v, want %v", srcSent(), want)
	}
}

// A mongos that refuses hello for a moment (ShutdownInProgress, 91: a
// restart) is asked again, not taken as the end of the copy.
func TestSync_RetriesATransientRefusal(t *testing.T) {
	mongos := bson.D{{Key: "ismaster", Value: true}, {Key: "msg", Value: "isdbgrid"}, {Key: "maxWireVersion", Value: 21}, {Key: "ok", Value: 1.0}}
	shutting := bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "The server is in quiesce mode and will shut down"},
		{Key: "code", Value: int32(91)}, {Key: "codeName", Value: "ShutdownInProgress"}}
	empty := func(ns string) bson.D {
		return bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "ns", Value: ns}, {Key: "firstBatch", Value: bson.A{}}}}, {Key: "ok", Value: 1.0}}
	}
	src, _ := testmongo.Replying(t, mongos, empty("config.collections"))
	dst, dstSent := testmongo.Replying(t, shutting, mongos, empty("config.collections"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Sync(ctx, src, dst, nil, testlog.Quiet()); err != nil {
		t.Fatalf("Sync: %v (destination sent %v)", err, dstSent())
	}
	if want := []string{"hello", "hello", "find"}; !slices.Equal(dstSent(), want) {
		t.Fatalf("destination sent %v, want %v", dstSent(), want)
	}
}
