package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// dataSize sums the selected collections' uncompressed data size
// ($collStats storageStats.size, one document per shard through a mongos;
// else the collStats command).
func dataSize(ctx context.Context, r *Report, side string, c *mongo.Client, sel []copier.Selected) (int64, bool) {
	var total, docs int64
	for _, s := range sel {
		if s.View {
			continue
		}
		db, coll := config.SplitNS(s.SrcNS)
		size, n, err := collSize(ctx, c.Database(db), coll)
		if err != nil {
			r.Results = append(r.Results, unknown(side+".data_size", "$collStats / collStats of "+s.SrcNS, err, ""))
			return 0, false
		}
		total += size
		docs += n
	}
	r.ok(side+".data_size", "%s in %d documents (uncompressed BSON, from $collStats)", human(float64(total)), docs)
	return total, true
}

func collSize(ctx context.Context, db *mongo.Database, coll string) (size, count int64, err error) {
	cur, err := db.Collection(coll).Aggregate(ctx, bson.A{bson.D{{Key: "$collStats", Value: bson.D{{Key: "storageStats", Value: bson.D{}}}}}})
	if err == nil {
		defer cur.Close(context.Background())
		for cur.Next(ctx) {
			s, _ := cur.Current.Lookup("storageStats", "size").AsInt64OK()
			n, _ := cur.Current.Lookup("storageStats", "count").AsInt64OK()
			size, count = size+s, count+n
		}
		if err = cur.Err(); err == nil {
			return size, count, nil
		}
	}
	raw, cerr := db.RunCommand(ctx, bson.D{{Key: "collStats", Value: coll}}).Raw()
	if cerr != nil {
		return 0, 0, errors.Join(err, cerr)
	}
	size, _ = raw.Lookup("size").AsInt64OK()
	count, _ = raw.Lookup("count").AsInt64OK()
	return size, count, nil
}

// Estimate is the copy's duration and the spool it needs meanwhile.
type Estimate struct {
	Copy       time.Duration
	SpoolBytes int64
}

// estimate: the copy reads dataBytes at copyRate bytes/s; meanwhile the
// reader spools the oplog at its measured byte rate, and the spool holds
// all of it until the applier starts after the copy.
func estimate(dataBytes int64, copyRate float64, oplogBytesPerSec float64) Estimate {
	d := time.Duration(float64(dataBytes) / copyRate * float64(time.Second))
	return Estimate{Copy: d, SpoolBytes: int64(oplogBytesPerSec * d.Seconds())}
}

// spoolRoom judges the estimate against spool.max_bytes and the free disk
// where spool.dir is (or would be created).
func spoolRoom(r *Report, e Estimate, copyRate float64, window time.Duration, cfg *config.Config) {
	r.ok("copy.estimate", "about %s at %s/s (an assumed copy rate: measure yours with a trial copy of one collection and give it with --copy-rate), spooling about %s of oplog meanwhile (the oplog's current byte rate x the copy's duration)",
		e.Copy.Round(time.Second), human(copyRate), human(float64(e.SpoolBytes)))
	if window > 0 && window < e.Copy {
		r.ok("copy.oplog_window", "the oplog holds %s of history, less than the copy's estimate: no matter, the spool holds the oplog from T0 on while the copy runs (the reader starts with the copy)",
			window.Round(time.Second))
	}
	if mx := int64(cfg.Spool.MaxBytes); mx > 0 {
		if e.SpoolBytes > mx {
			r.add("spool.max_bytes", Fail, fmt.Sprintf("spool.max_bytes %s is less than the %s the copy's estimate needs: the reader would wait for room, and the oplog could roll past it",
				cfg.Spool.MaxBytes, human(float64(e.SpoolBytes))), "raise spool.max_bytes (or remove it) to at least twice the estimate")
		} else {
			r.ok("spool.max_bytes", "spool.max_bytes %s holds the estimate of %s", cfg.Spool.MaxBytes, human(float64(e.SpoolBytes)))
		}
	}
	dir := existingParent(cfg.Spool.Dir)
	free, err := spool.FreeBytes(dir)
	if err != nil {
		r.add("spool.disk", Unknown, err.Error(), "")
		return
	}
	if e.SpoolBytes > free {
		r.add("spool.disk", Fail, fmt.Sprintf("%s free at %s, less than the %s the copy's estimate needs", human(float64(free)), dir, human(float64(e.SpoolBytes))),
			"put spool.dir on a disk with more room")
		return
	}
	r.ok("spool.disk", "%s free at %s for the estimate of %s", human(float64(free)), dir, human(float64(e.SpoolBytes)))
}

// existingParent is dir, or its nearest ancestor that exists.
func existingParent(dir string) string {
	d, err := filepath.Abs(dir)
	if err != nil {
		d = dir
	}
	for {
		if _, err := os.Stat(d); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			return d
		}
		d = p
	}
}
