package copier

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ttl is the spec {key: {at: 1}, name: "at_1"} with the options opts.
func ttl(opts ...bson.E) bson.D {
	return append(bson.D{{Key: "key", Value: bson.D{{Key: "at", Value: int32(1)}}}, {Key: "name", Value: "at_1"}}, opts...)
}

func TestCollModChanges_OnlyWhatCollModChanges(t *testing.T) {
	expire := func(n any) bson.E { return bson.E{Key: "expireAfterSeconds", Value: n} }
	hidden := func(b bool) bson.E { return bson.E{Key: "hidden", Value: b} }
	cases := []struct {
		name     string
		src, dst bson.D
		want     bson.D // nil: not settled by collMod
	}{
		{"TTL changed", ttl(expire(int32(60))), ttl(expire(int32(3600))), bson.D{expire(int32(60))}},
		{"TTL the same but its number type", ttl(expire(int64(60))), ttl(expire(float64(60))), nil},
		{"hidden on the source", ttl(hidden(true)), ttl(), bson.D{hidden(true)}},
		{"hidden on the destination", ttl(), ttl(hidden(true)), bson.D{hidden(false)}},
		{"hidden: false is absent", ttl(hidden(false)), ttl(), nil},
		{"prepareUnique", ttl(bson.E{Key: "prepareUnique", Value: true}), ttl(), bson.D{{Key: "prepareUnique", Value: true}}},
		{"TTL and hidden, in the source's order", ttl(hidden(true), expire(int32(60))), ttl(expire(int32(3600))),
			bson.D{hidden(true), expire(int32(60))}},
		{"a TTL on the source only", ttl(expire(int32(60))), ttl(), nil},
		{"a TTL on the destination only", ttl(), ttl(expire(int32(60))), nil},
		{"unique (a conversion, or this copy's deferred build)", ttl(bson.E{Key: "unique", Value: true}), ttl(), nil},
		{"hidden and sparse", ttl(hidden(true), bson.E{Key: "sparse", Value: true}), ttl(), nil},
		{"another key", ttl(hidden(true)), bson.D{{Key: "key", Value: bson.D{{Key: "at", Value: int32(-1)}}}, {Key: "name", Value: "at_1"}}, nil},
		{"the same options (v and background are the server's)", ttl(expire(int32(60))),
			append(ttl(expire(int32(60))), bson.E{Key: "v", Value: int32(2)}, bson.E{Key: "background", Value: true}), nil},
	}
	for _, tc := range cases {
		got, ok := collModChanges(tc.src, tc.dst)
		if ok != (tc.want != nil) || relaxed(got) != relaxed(tc.want) {
			t.Errorf("%s: %s %v, want %s", tc.name, relaxed(got), ok, relaxed(tc.want))
		}
	}
}

// mongod's answer to createIndexes of a TTL index whose expireAfterSeconds
// the destination's index of that name lacks (index_catalog_impl.cpp,
// _doesSpecConflictWithExisting).
var errTTLChanged = mongo.CommandError{Code: 85, Name: "IndexOptionsConflict",
	Message: `An equivalent index already exists with the same name but different options. Requested index: { v: 2, key: { at: 1 }, name: "at_1", expireAfterSeconds: 60 }, existing index: { v: 2, key: { at: 1 }, name: "at_1", expireAfterSeconds: 3600 }`}

// A copy restarted after a collMod of the source's TTL index (or of its
// hidden flag) met the destination's index under the old options and
// stopped on IndexOptionsConflict. It brings the destination's to the
// source's with collMod and goes on; a difference collMod cannot make
// stays one. mongod's replies, as its manual's collMod page shows them.
func TestIndexConflict_CollModSettlesWhatCollModChanged(t *testing.T) {
	listed := func(dst bson.D) bson.D {
		return bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "ns", Value: "shop.orders"},
			{Key: "firstBatch", Value: bson.A{
				bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}},
				append(bson.D{{Key: "v", Value: int32(2)}}, dst...)}}}}, {Key: "ok", Value: 1.0}}
	}
	modded := bson.D{{Key: "expireAfterSeconds_old", Value: int32(3600)}, {Key: "expireAfterSeconds_new", Value: int32(60)}, {Key: "ok", Value: 1.0}}
	hid := bson.D{{Key: "hidden_old", Value: false}, {Key: "hidden_new", Value: true}, {Key: "ok", Value: 1.0}}
	cases := []struct {
		name      string
		src, dst  bson.D
		replies   []bson.D // after listIndexes'
		wantSent  []string
		wantError bool
	}{
		{"expireAfterSeconds", ttl(bson.E{Key: "expireAfterSeconds", Value: int32(60)}), ttl(bson.E{Key: "expireAfterSeconds", Value: int32(3600)}),
			[]bson.D{modded}, []string{"listIndexes", "collMod"}, false},
		{"expireAfterSeconds and hidden", ttl(bson.E{Key: "expireAfterSeconds", Value: int32(60)}, bson.E{Key: "hidden", Value: true}),
			ttl(bson.E{Key: "expireAfterSeconds", Value: int32(3600)}), []bson.D{modded, hid}, []string{"listIndexes", "collMod", "collMod"}, false},
		{"collMod refused: the difference reported", ttl(bson.E{Key: "expireAfterSeconds", Value: int32(60)}),
			ttl(bson.E{Key: "expireAfterSeconds", Value: int32(3600)}), []bson.D{{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "not authorized on shop to execute command"},
				{Key: "code", Value: int32(13)}, {Key: "codeName", Value: "Unauthorized"}}}, []string{"listIndexes", "collMod"}, true},
		{"hidden and sparse", ttl(bson.E{Key: "hidden", Value: true}, bson.E{Key: "sparse", Value: true}), ttl(),
			nil, []string{"listIndexes"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst, sent := testmongo.Replying(t, append([]bson.D{listed(tc.dst)}, tc.replies...)...)
			c := newCopier(t, nil, dst)
			coll := &collection{srcNS: "shop.orders", dstNS: "shop.orders", dstDB: "shop", dstColl: "orders"}
			err := c.indexConflict(context.Background(), coll, tc.src, errTTLChanged)
			if tc.wantError != errors.Is(err, ErrIndexConflict) || !tc.wantError && err != nil {
				t.Errorf("indexConflict: %v, want a conflict: %v", err, tc.wantError)
			}
			if !slices.Equal(sent(), tc.wantSent) {
				t.Errorf("sent %v, want %v", sent(), tc.wantSent)
			}
		})
	}
}

// The same against a server: a copy restarted after a collMod of the
// source's TTL index. The test server (FerretDB) has no TTL or hidden
// index and no collMod: there the test says so and skips.
func TestCopy_RestartAfterCollModOfATTLIndex(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	insertDocs(t, src.Database("shop").Collection("orders"), bson.D{{Key: "_id", Value: 1}})
	create := func(c *mongo.Client, expire int32) error {
		_, err := c.Database("shop").Collection("orders").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "at", Value: 1}},
			Options: options.Index().SetName("at_1").SetExpireAfterSeconds(expire)})
		return err
	}
	// The destination as the first run left it, then the source's collMod.
	for _, side := range []struct {
		c      *mongo.Client
		expire int32
	}{{dst, 3600}, {src, 3600}} {
		if err := create(side.c, side.expire); err != nil {
			t.Skipf("the server refuses a TTL index (the test server has none): %v", err)
		}
	}
	if err := src.Database("shop").RunCommand(ctx, bson.D{{Key: "collMod", Value: "orders"},
		{Key: "index", Value: bson.D{{Key: "name", Value: "at_1"}, {Key: "expireAfterSeconds", Value: 60}}}}).Err(); err != nil {
		t.Skipf("the server refuses collMod of an index: %v", err)
	}
	if err := newCopier(t, src, dst).Run(ctx); err != nil {
		if strings.Contains(err.Error(), "collMod") && strings.Contains(err.Error(), "refused") {
			t.Skipf("the destination refuses collMod of an index: %v", err)
		}
		t.Fatalf("copy: %v", err)
	}
	specs, err := dst.Database("shop").Collection("orders").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Name == "at_1" && (s.ExpireAfterSeconds == nil || *s.ExpireAfterSeconds != 60) {
			t.Errorf("destination at_1 expireAfterSeconds %v, want the source's 60", s.ExpireAfterSeconds)
		}
	}
}
