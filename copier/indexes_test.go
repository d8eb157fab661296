package copier

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// indexSetup gives the source shop.orders the indexes sku_1 {sku: 1} and
// qty_1 {qty: 1}, and the empty destination shop.orders the index dst.
func indexSetup(t *testing.T, dst mongo.IndexModel) (src, dstClient *mongo.Client) {
	t.Helper()
	src, dstClient = testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	orders := src.Database("shop").Collection("orders")
	insertDocs(t, orders, bson.D{{Key: "_id", Value: "a"}, {Key: "sku", Value: "apple"}, {Key: "qty", Value: 1}})
	if _, err := orders.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetName("sku_1")},
		{Keys: bson.D{{Key: "qty", Value: 1}}, Options: options.Index().SetName("qty_1")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := dstClient.Database("shop").Collection("orders").Indexes().CreateOne(ctx, dst); err != nil {
		t.Fatal(err)
	}
	return src, dstClient
}

func indexNames(t *testing.T, c *mongo.Collection) map[string]bool {
	t.Helper()
	specs, err := c.Indexes().ListSpecifications(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range specs {
		names[s.Name] = true
	}
	return names
}

// The destination's index sku_1 has another key than the source's: the
// server answers IndexKeySpecsConflict (86) for the whole createIndexes,
// which builds none of its indexes. The copy builds the others one by one
// and fails naming the namespace, the index and both keys.
func TestCopy_IndexNameWithAnotherKeyFails(t *testing.T) {
	src, dst := indexSetup(t, mongo.IndexModel{Keys: bson.D{{Key: "other", Value: 1}}, Options: options.Index().SetName("sku_1")})
	err := newCopier(t, src, dst).Run(context.Background())
	if !errors.Is(err, ErrIndexConflict) {
		t.Fatalf("copy: %v, want %v", err, ErrIndexConflict)
	}
	for _, want := range []string{"shop.orders", "sku_1", `{"sku":1}`, `{"other":1}`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if names := indexNames(t, dst.Database("shop").Collection("orders")); !names["qty_1"] {
		t.Errorf("destination indexes %v: qty_1 not built beside the conflict", names)
	}
}

// The destination holds the source's key under another name and with
// another option (unique): the server answers IndexOptionsConflict (85),
// which the copy used to take for success, leaving a unique index the
// source lacks. It is a difference: the copy fails naming both.
func TestCopy_IndexKeyWithOtherOptionsFails(t *testing.T) {
	src, dst := indexSetup(t, mongo.IndexModel{Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetName("by_sku").SetUnique(true)})
	err := newCopier(t, src, dst).Run(context.Background())
	if !errors.Is(err, ErrIndexConflict) {
		t.Fatalf("copy: %v, want %v", err, ErrIndexConflict)
	}
	if !hasCode(err, codeIndexOptionsConflict) {
		t.Errorf("copy: %v, want the server's IndexOptionsConflict kept", err)
	}
	for _, want := range []string{"shop.orders", "sku_1", "by_sku", `"unique":true`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// The same key and options under another name (a shard key index that
// shardCollection named) is the same index: the copy goes on.
func TestCopy_IndexUnderAnotherNameIsTheSame(t *testing.T) {
	src, dst := indexSetup(t, mongo.IndexModel{Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetName("by_sku")})
	if err := newCopier(t, src, dst).Run(context.Background()); err != nil {
		t.Fatalf("copy: %v", err)
	}
	names := indexNames(t, dst.Database("shop").Collection("orders"))
	if !names["by_sku"] || !names["qty_1"] {
		t.Errorf("destination indexes %v, want by_sku and qty_1", names)
	}
}

func TestIndexConflictErr_MongodCodes(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{errSameNameOtherOptions, true},
		{errSameNameOtherKey, true},
		{mongo.CommandError{Code: 68, Name: "IndexAlreadyExists"}, false},
		{mongo.CommandError{Code: 11000, Name: "DuplicateKey"}, false},
		{mongo.CommandError{Code: 67, Name: "CannotCreateIndex"}, false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := indexConflictErr(tc.err); got != tc.want {
			t.Errorf("indexConflictErr(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// mongod's answers (src/mongo/db/catalog/index_catalog_impl.cpp,
// _doesSpecConflictWithExisting; codes in src/mongo/base/error_codes.yml)
// when an index of the requested name exists with other options (85: the
// same key; which options make it 86 instead depends on the version) or
// with another key (86).
var (
	errSameNameOtherOptions = mongo.CommandError{Code: 85, Name: "IndexOptionsConflict",
		Message: `An equivalent index already exists with the same name but different options. Requested index: { v: 2, key: { sku: 1 }, name: "sku_1", unique: true }, existing index: { v: 2, key: { sku: 1 }, name: "sku_1" }`}
	errSameNameOtherKey = mongo.CommandError{Code: 86, Name: "IndexKeySpecsConflict",
		Message: `An existing index has the same name as the requested index. Requested index: { v: 2, key: { sku: 1 }, name: "sku_1" }, existing index: { v: 2, key: { other: 1 }, name: "sku_1" }`}
)

// The same name and key with another unique option: MongoDB refuses it
// (85 on 4.4, 86 where unique identifies an index), the test server
// accepts it silently, so the conflict is settled here from mongod's
// answer: a difference, unless the destination's index is this copy's
// non-unique stand-in for a deferred unique build (a restart).
func TestIndexConflict_SameNameOtherUnique(t *testing.T) {
	src, dst := testmongo.StartSource(t).Client(), testmongo.StartDest(t).Client()
	ctx := context.Background()
	if _, err := dst.Database("shop").Collection("orders").Indexes().CreateOne(ctx,
		mongo.IndexModel{Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetName("sku_1")}); err != nil {
		t.Fatal(err)
	}
	c := newCopier(t, src, dst)
	coll := &collection{srcNS: "shop.orders", dstNS: "shop.orders", dstDB: "shop", dstColl: "orders"}
	spec := bson.D{{Key: "key", Value: bson.D{{Key: "sku", Value: int32(1)}}}, {Key: "name", Value: "sku_1"}, {Key: "unique", Value: true}}
	for _, cause := range []error{errSameNameOtherOptions, errSameNameOtherKey} {
		err := c.indexConflict(ctx, coll, spec, cause)
		if !errors.Is(err, ErrIndexConflict) || !strings.Contains(err.Error(), `"unique":true`) {
			t.Errorf("after %v: %v, want %v with both specs", cause, err, ErrIndexConflict)
		}
	}
	cmd, _ := bson.Marshal(bson.D{{Key: "createIndexes", Value: "orders"}, {Key: "indexes", Value: bson.A{spec}}})
	if err := c.Store.PutDeferred(store.Deferred{Kind: "index", NS: "shop.orders", DB: "shop", Cmd: cmd, Index: "sku_1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.indexConflict(ctx, coll, spec, errSameNameOtherOptions); err != nil {
		t.Errorf("the deferred unique index's stand-in: %v, want no conflict", err)
	}
}

func TestSameValue_AsTheServerReadsSpecs(t *testing.T) {
	cases := []struct {
		a, b any
		want bool
	}{
		{int32(1), float64(1), true},
		{int32(1), int64(-1), false},
		{true, int32(1), true},
		{false, int32(1), false},
		{bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: float64(-1)}}, bson.D{{Key: "a", Value: int64(1)}, {Key: "b", Value: int32(-1)}}, true},
		{bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}, bson.D{{Key: "b", Value: 1}, {Key: "a", Value: 1}}, false},
		{"text", "text", true},
		{"2dsphere", "text", false},
	}
	for _, tc := range cases {
		if got := sameValue(tc.a, tc.b); got != tc.want {
			t.Errorf("sameValue(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
