package reader

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The oplog query keeps convertToCapped's copies (fromMigrate inserts into
// tmp<5 chars>.convertToCapped.<name>, config.CappedCopy) and still leaves
// out a chunk migration's.
func TestTail_KeepsCappedCopies(t *testing.T) {
	src := testmongo.StartSource(t)
	base := uint32(time.Now().Unix()) + 1000
	entry := func(i uint32, ns string, fromMigrate bool) bson.Raw {
		return crafted(t, bson.Timestamp{T: base, I: i}, "i", ns, nil, bson.D{{Key: "_id", Value: int32(i)}}, fromMigrate)
	}
	resume := entry(1, "app.c", false)
	o := standaloneApp(t, src, resume,
		entry(2, "app.c", true), // a migration's copy
		entry(3, "app.tmpAbC12.convertToCapped.c", true),
		entry(4, "app.tmp.convertToCapped.c", true),
		entry(5, "app.tmpA.b.convertToCapped.c", true), // not convertToCapped's
		entry(6, "app.c", false))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var read []uint32
	_, err := o.tail(ctx, tsOf(resume), resume, func(r bson.Raw) error {
		if len(r) > 0 {
			read = append(read, tsOf(r).I)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errCursorDead) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if len(read) != 3 || read[0] != 3 || read[1] != 4 || read[2] != 6 {
		t.Fatalf("read %v; want [3 4 6]", read)
	}
}

// The oplog query's pattern for convertToCapped's copies picks the
// namespaces config.CappedCopy does, and no others.
func TestCappedCopyNS_MatchesCappedCopy(t *testing.T) {
	re := regexp.MustCompile(cappedCopyNS)
	for _, coll := range []string{"tmpAbC12.convertToCapped.c", "tmp.convertToCapped.c", "tmp0a9Zz.convertToCapped.a.b",
		"tmpfoo.convertToCapped.c", "tmpAbC1!.convertToCapped.c", "tmpA.b.convertToCapped.c", "tmpAbC12.convertToCappedc",
		"c", "tmp.agg_out.x", "xtmpAbC12.convertToCapped.c"} {
		if got, want := re.MatchString("app."+coll), config.CappedCopy(coll); got != want {
			t.Errorf("%s: the oplog query's pattern matches %v, config.CappedCopy says %v", coll, got, want)
		}
	}
}

// The oplog query of a replica set's reader keeps cloneCollectionAsCapped's
// copies (fromMigrate inserts into the capped target it created, mongodb/mongo
// src/mongo/db/catalog/capped_utils.cpp, 4.2 to 8.0; shapes in
// translate/capped_test.go) and any other fromMigrate write of the
// selection; a shard's query leaves them out, convertToCapped's copies
// excepted.
func TestTail_ReplicaSetKeepsCloneCollectionAsCappedCopies(t *testing.T) {
	src := testmongo.StartSource(t)
	base := uint32(time.Now().Unix()) + 1000
	ui := bson.Binary{Subtype: 4, Data: make([]byte, 16)}
	entry := func(i uint32, op, ns string, o bson.D, fromMigrate bool) bson.Raw {
		return crafted(t, bson.Timestamp{T: base, I: i}, op, ns, &ui, o, fromMigrate)
	}
	id := func(i int32) bson.D { return bson.D{{Key: "_id", Value: i}} }
	resume := entry(1, "i", "app.events", id(1), false)
	o := standaloneApp(t, src, resume,
		entry(2, "c", "app.$cmd", bson.D{{Key: "create", Value: "events_capped"}, {Key: "capped", Value: true}, {Key: "size", Value: int32(4096)},
			{Key: "idIndex", Value: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: id(1)}, {Key: "name", Value: "_id_"}}}}, false),
		entry(3, "i", "app.events_capped", id(1), true),
		entry(4, "i", "app.events_capped", id(2), true),
		entry(5, "i", "other.events_capped", id(1), true), // not selected
		entry(6, "i", "app.tmpAbC12.convertToCapped.c", id(1), true),
		entry(7, "i", "app.events", id(3), false))
	for _, tc := range []struct {
		name       string
		replicaSet bool
		want       []uint32
	}{
		{"replica set", true, []uint32{2, 3, 4, 6, 7}},
		{"shard", false, []uint32{2, 6, 7}},
	} {
		src := *o
		src.Filter.ReplicaSet = tc.replicaSet
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var read []uint32
		_, err := src.tail(ctx, tsOf(resume), resume, func(r bson.Raw) error {
			if len(r) > 0 {
				read = append(read, tsOf(r).I)
			}
			if len(read) == len(tc.want) {
				cancel() // as many as it should read; one it should not comes before, in ts order
			}
			return nil
		})
		cancel()
		if err != nil && !errors.Is(err, errCursorDead) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(read, tc.want) {
			t.Errorf("%s: read %v; want %v", tc.name, read, tc.want)
		}
	}
}

// crafted is an oplog entry {ts, t, op, ns, ui (when not nil), o,
// fromMigrate (when set)} for a test to insert into the test server's oplog.
func crafted(t *testing.T, ts bson.Timestamp, op, ns string, ui *bson.Binary, o bson.D, fromMigrate bool) bson.Raw {
	t.Helper()
	d := bson.D{{Key: "ts", Value: ts}, {Key: "t", Value: int64(1)}, {Key: "op", Value: op}, {Key: "ns", Value: ns}}
	if ui != nil {
		d = append(d, bson.E{Key: "ui", Value: *ui})
	}
	d = append(d, bson.E{Key: "o", Value: o})
	if fromMigrate {
		d = append(d, bson.E{Key: "fromMigrate", Value: true})
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
