package reader

import (
	"context"
	"errors"
	"regexp"
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
		d := bson.D{{Key: "ts", Value: bson.Timestamp{T: base, I: i}}, {Key: "t", Value: int64(1)},
			{Key: "op", Value: "i"}, {Key: "ns", Value: ns}, {Key: "o", Value: bson.D{{Key: "_id", Value: int32(i)}}}}
		if fromMigrate {
			d = append(d, bson.E{Key: "fromMigrate", Value: true})
		}
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return raw
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
