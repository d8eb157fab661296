package cutover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// follower watches a running sync from outside it: the source's position
// (what the destination must reach) and the applier's (what it holds), the
// latter from the running process's /status or, when no process holds it,
// from the state file. cutover and verify --live use it.
type follower struct {
	// shard names the shard of a sharded source this follower watches
	// (its /status entry under shards, its own state file); "" for a
	// replica set.
	shard     string
	src       *mongo.Client
	filter    reader.Filter
	statusURL string // the running process's /status; empty: http.listen not set
	storePath string
	spoolDir  string
	http      *http.Client
}

func newFollower(cfg *config.Config, src *mongo.Client, statusURL string) *follower {
	if statusURL == "" && cfg.HTTP.Listen != "" {
		statusURL = "http://" + cfg.HTTP.ListenAddr() + "/status"
	}
	return &follower{src: src, filter: reader.FilterFor(cfg), statusURL: statusURL,
		storePath: cfg.Store.Path, spoolDir: cfg.Spool.Dir, http: &http.Client{Timeout: 5 * time.Second}}
}

// newFollowers is one follower per shard of a sharded source (srcs and
// shards in the same order), or one for a replica set (shards nil).
func newFollowers(cfg *config.Config, srcs []*mongo.Client, shards []config.Shard, statusURL string) []*follower {
	if len(shards) == 0 {
		return []*follower{newFollower(cfg, srcs[0], statusURL)}
	}
	out := make([]*follower, len(shards))
	for i, sh := range shards {
		f := newFollower(cfg.ForShard(sh), srcs[i], statusURL)
		if f.statusURL == "" && cfg.HTTP.Listen != "" {
			f.statusURL = "http://" + cfg.HTTP.ListenAddr() + "/status"
		}
		f.shard = sh.Name
		out[i] = f
	}
	return out
}

// settleAll settles every follower (every shard of a sharded source).
func settleAll(fs []*follower) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for _, f := range fs {
			if err := f.settle(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// target is a source position to reach.
type target struct {
	// Newest is the source's newest majority-committed oplog entry.
	Newest bson.Timestamp
	// Need is the newest entry at or before Newest that the sync spools:
	// once the applier's checkpoint reaches it, the destination holds
	// everything the source wrote up to Newest. Zero: nothing to wait for
	// (everything up to Newest was applied already).
	Need bson.Timestamp
	// TakenAt is when Newest was read, on this machine's clock.
	TakenAt time.Time
}

// target reads the source's newest position and the newest entry up to it
// that the sync spools, scanning back from the newest no further than
// applied (the applier's checkpoint now): what is older is applied already.
func (f *follower) target(ctx context.Context, applied bson.Timestamp) (target, error) {
	t := target{TakenAt: time.Now()}
	// A replica set primary's hello gives the newest majority-committed
	// optime; a server without it (the test server, a single node) its
	// newest oplog entry, majority-committed on one node once written.
	newest, _, err := copier.NewestVia(ctx, f.src)
	if err != nil {
		return t, fmt.Errorf("source's newest position: %w", err)
	}
	t.Newest = newest
	if !newest.After(applied) {
		return t, nil
	}
	// The primary, as hello: a secondary may not hold entries up to newest.
	coll := f.src.Database("local").Collection("oplog.rs", options.Collection().SetReadPreference(readpref.Primary()))
	cur, err := coll.Find(ctx,
		bson.D{{Key: "ts", Value: bson.D{{Key: "$lte", Value: newest}, {Key: "$gt", Value: applied}}}},
		options.Find().SetSort(bson.D{{Key: "$natural", Value: -1}}).SetBatchSize(1000))
	if err != nil {
		return t, fmt.Errorf("scan the source's oplog back from %s: %w", oplog.FormatTS(newest), err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if f.filter.Judge(cur.Current) == reader.Spool {
			tt, ti, _ := cur.Current.Lookup("ts").TimestampOK()
			t.Need = bson.Timestamp{T: tt, I: ti}
			return t, nil
		}
	}
	if err := cur.Err(); err != nil {
		return t, fmt.Errorf("scan the source's oplog back from %s: %w", oplog.FormatTS(newest), err)
	}
	return t, nil
}

// position is where the applier is, and how it is read.
type position struct {
	Applied bson.Timestamp // the checkpoint's entry
	Seq     uint64
	// Left is the spooled entries not applied yet (-1: unknown).
	Left int64
	// AppliedTotal counts entries applied by the running process (for a rate).
	AppliedTotal int64
	Consistent   bool
	Stage        string
	// Live: a running process reports this; otherwise it is the state file
	// with nothing moving it.
	Live bool
}

// errNoProcess: no process holds the state file, so nothing applies.
var errNoProcess = errors.New("no mongo-sync process is running on this state file (start `sync` or `applier`)")

// position reads the applier's position: from the running process's
// /status when it answers, else from the state file when no process holds
// it (errNoProcess: nothing moves it).
func (f *follower) position(ctx context.Context) (position, error) {
	var liveErr error
	if f.statusURL != "" {
		p, err := f.live(ctx)
		if err == nil {
			return p, nil
		}
		liveErr = err
	}
	s, err := store.OpenReadOnly(f.storePath)
	switch {
	case errors.Is(err, store.ErrNotStarted):
		return position{Stage: "not started", Left: -1}, errNoProcess
	case errors.Is(err, store.ErrBusy) && liveErr != nil:
		return position{}, fmt.Errorf("a mongo-sync process holds the state file, but its /status does not answer: %w", liveErr)
	case errors.Is(err, store.ErrBusy):
		return position{}, errors.New("a mongo-sync process holds the state file, and http.listen is not set: " +
			"its progress is only at /status; set http.listen in the config (or pass --status-url)")
	case err != nil:
		return position{}, err
	}
	defer s.Close()
	ck, err := s.Checkpoint()
	if err != nil {
		return position{}, err
	}
	p := position{Applied: ck.TS, Seq: ck.Seq, Stage: string(s.Stage()), Left: -1}
	end := s.CopyEnd()
	// No copy (stage none without T0), or a copy done and passed, and no
	// namespace added to sync.dbs still being copied (copy_end moves only
	// once that copy is done).
	copied := p.Stage == string(store.StageApplied) || (p.Stage == string(store.StageNone) && s.T0().IsZero())
	b, _, err := s.Binding()
	if err != nil {
		return position{}, err
	}
	p.Consistent = copied && b.AddingFrom == "" && (end.IsZero() || !ck.TS.Before(end))
	// The newest sealed segment's name says how far the spool reaches: a
	// listing, not every segment's meta, on each poll.
	if l, err := spool.List(f.spoolDir); err == nil && len(l.Sealed) > 0 {
		p.Left = max(0, int64(l.Sealed[len(l.Sealed)-1].Last)-int64(ck.Seq))
	}
	return p, errNoProcess
}

// live reads the running process's /status.
func (f *follower) live(ctx context.Context) (position, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.statusURL, nil)
	if err != nil {
		return position{}, fmt.Errorf("--status-url %q: %w", f.statusURL, err)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return position{}, fmt.Errorf("read the running process's status at %s: %w", f.statusURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return position{}, fmt.Errorf("read the running process's status at %s: %s", f.statusURL, resp.Status)
	}
	var snap status.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return position{}, fmt.Errorf("read the running process's status at %s: %w", f.statusURL, err)
	}
	if f.shard != "" {
		sh, ok := snap.Shards[f.shard]
		if !ok {
			return position{}, fmt.Errorf("the status at %s has no shard %s (is the running sync the one of this config?)", f.statusURL, f.shard)
		}
		snap = sh
	}
	p := position{Live: true, Stage: snap.Stage, Consistent: snap.Consistent, AppliedTotal: snap.AppliedTotal, Left: -1}
	if snap.Applier != nil {
		p.Seq = snap.Applier.Seq
		if snap.Applier.TS != "" {
			o, err := config.ParseOptime(snap.Applier.TS)
			if err != nil {
				return position{}, fmt.Errorf("status at %s: applier ts: %w", f.statusURL, err)
			}
			p.Applied = o.TS()
		}
	}
	if snap.Reader != nil {
		p.Left = max(0, snap.LagEntries)
	}
	return p, nil
}

// holds reports whether position p shows the destination holding
// everything the source wrote up to t: the copy is done and the applier's
// checkpoint has reached the newest entry up to t that the sync spools.
func (t target) holds(p position) bool {
	return p.Consistent && (t.Need.IsZero() || !p.Applied.Before(t.Need))
}

// waitHolds waits until the destination holds the source up to t, calling
// show with each position read. With needProcess, finding no running
// process is an error; otherwise it waits for one to start.
func (f *follower) waitHolds(ctx context.Context, t target, needProcess bool, show func(position)) (position, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	failed := 0 // reads of the running process's status failed in a row
	for {
		p, err := f.position(ctx)
		if err != nil && !errors.Is(err, errNoProcess) {
			// One slow /status answer is not the end: a few in a row are.
			if failed++; failed >= 8 || ctx.Err() != nil {
				return p, err
			}
			select {
			case <-ctx.Done():
				return p, ctx.Err()
			case <-tick.C:
			}
			continue
		}
		failed = 0
		if t.holds(p) {
			return p, nil
		}
		if err != nil && needProcess {
			return p, fmt.Errorf("the destination does not hold the source up to %s yet, and %w", oplog.FormatTS(t.Newest), err)
		}
		if show != nil {
			show(p)
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-tick.C:
		}
	}
}

// settle takes the source's position now and waits until the destination
// holds it (verify --live's Settle).
func (f *follower) settle(ctx context.Context) error {
	p, err := f.position(ctx)
	if err != nil && !errors.Is(err, errNoProcess) {
		return err
	}
	t, err := f.target(ctx, p.Applied)
	if err != nil {
		return err
	}
	_, err = f.waitHolds(ctx, t, true, nil)
	return err
}
