package binding

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/reader"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrRefused is what every refusal of this package wraps: the start would
// lose data, or write into what it reads. Nothing was written (mongo-sync's
// marker on the destination aside).
var ErrRefused = errors.New("refused before anything was written")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrRefused)
}

// Check is what one command starts with. The sides it connects to are set;
// the others are nil: the reader has no destination, the applier reads no
// source.
type Check struct {
	Src, Dst         *mongo.Client
	SrcName, DstName string // as the user gave them, passwords redacted
	NS               *config.Namespaces
	// Store is the state file; nil when the command has none, or (a
	// separate reader) could not read it because the applier holds it.
	Store *store.Store
	// StateReadOnly: Store was opened read-only (reader); the binding is
	// checked but not recorded.
	StateReadOnly bool
	// StateBusy: the separate reader found the state file held by a
	// running applier (Store nil).
	StateBusy bool
	StatePath string
	SpoolDir  string
	// OwnsSpool: the command writes the spool (sync, copy, reader): it may
	// record the spool's identity and refill a spool that lost what the
	// state file still needs. The applier only checks it.
	OwnsSpool bool
	// AddOnline: the command copies namespaces added to the selection
	// before its applier goes on (sync of a replica set source). An
	// addition is then recorded (Binding.AddingFrom), not refused.
	AddOnline bool
	// Shard says Src is one shard of a sharded source (src.shards,
	// --shard); otherwise a source that is a shard is refused: read as a
	// replica set of its own, its chunk migrations' writes would be
	// applied as its own (reader.Filter).
	Shard bool
	Log   logrus.FieldLogger
}

// Run checks every binding the command can see, then records what was not
// recorded yet. It refuses (ErrRefused) a source or destination other than
// the recorded ones, a spool of another sync, a selection that added or
// changed namespaces, and a sync that would write into namespaces it reads.
// A spool that lost entries the state still needs is refilled from the
// state's checkpoint when the command owns the spool.
func (c *Check) Run(ctx context.Context) error {
	log := c.Log
	var src Deployment
	var (
		srcCluster      string
		srcClusterKnown bool
		srcClusterErr   error
	)
	if c.Src != nil {
		var err error
		if src, err = Source(ctx, c.Src); err != nil {
			return fmt.Errorf("source %s: %w", c.SrcName, err)
		}
		if src.Weak != "" {
			log.WithField("source", src.ID).Warn("source identity: " + src.Weak)
		}
		// The cluster the source is a shard of, read once for both checks.
		srcCluster, srcClusterKnown, srcClusterErr = ShardCluster(ctx, c.Src)
		if err := c.notAShard(src, srcCluster, srcClusterKnown, srcClusterErr); err != nil {
			return err
		}
	}
	var marker string
	if c.Dst != nil {
		var err error
		if marker, err = Marker(ctx, c.Dst); err != nil {
			return fmt.Errorf("destination %s: %w", c.DstName, err)
		}
		if c.Src != nil {
			if err := c.sameDeployment(ctx, src, marker, srcCluster); err != nil {
				return err
			}
		}
	}

	b, recorded, fresh, err := c.binding()
	if err != nil {
		return err
	}
	if recorded {
		if err := c.compare(ctx, &b, src, marker); err != nil {
			return err
		}
	}

	if !recorded && c.Store != nil && !c.StateReadOnly {
		b.StateID = spool.NewID()
		if !fresh {
			log.WithField("state", c.StatePath).Info("state file written before identities were recorded: recording them now")
		}
	}
	sid, err := c.checkSpool(b, recorded, fresh, src)
	if err != nil {
		return err
	}
	if c.Src == nil && c.Dst != nil {
		if err := c.destIsSource(ctx, b, sid); err != nil {
			return err
		}
	}

	if c.Store == nil || c.StateReadOnly {
		return nil
	}
	if sid.ID != "" {
		if b.SpoolID != "" && b.SpoolID != sid.ID {
			log.WithFields(logrus.Fields{"spool": c.SpoolDir, "spool_id": sid.ID}).Info("state file bound to the refilled spool")
		}
		b.SpoolID = sid.ID
	}
	if c.Src != nil {
		b.Source, b.SourceName = src.ID, c.SrcName
	}
	if c.Dst != nil {
		b.Dest, b.DestName = marker, c.DstName
	}
	if c.NS != nil {
		b.Selection = c.NS.Selection().String()
	}
	b.Recorded = time.Now().UTC()
	return c.Store.SetBinding(b)
}

// notAShard refuses a source that is one shard of a sharded cluster read
// as a replica set of its own (c.Shard unset): its chunk migrations'
// copies and deletes, logged with fromMigrate, would be applied as its own
// writes. A mongos (src) is the cluster itself, and a config server may
// hold a shard identity of its own (a config shard). When the source does
// not say, the start goes on with a warning: the applier still stops at the
// first fromMigrate update or delete of a replica set (a migration's).
func (c *Check) notAShard(src Deployment, cluster string, known bool, err error) error {
	if c.Shard || strings.HasPrefix(src.ID, "cluster:") || strings.HasPrefix(src.ID, "mongos:") {
		return nil
	}
	if !known {
		c.Log.WithError(err).Warn("cannot tell whether the source is a shard of a sharded cluster (grant find on admin.system.version, " +
			"as clusterMonitor does): a shard must be synced with its cluster (src.shards), never as a replica set")
		return nil
	}
	if cluster != "" {
		return refuse("source %s is a shard of sharded cluster %s (its shard identity): a shard read as a replica set of its own "+
			"would apply its chunk migrations' copies and deletes as writes. Sync the cluster: src its mongos, with src.shards "+
			"naming every shard (README: Sharded clusters)", c.SrcName, strings.TrimPrefix(cluster, "cluster:"))
	}
	return nil
}

// sameDeployment refuses a destination that is the source (srcCluster: the
// cluster the source is a shard of, "" for none).
func (c *Check) sameDeployment(ctx context.Context, src Deployment, marker, srcCluster string) error {
	var dst Deployment
	if d, err := Source(ctx, c.Dst); err == nil {
		dst = d
	} else {
		dst = Deployment{Weak: err.Error()}
	}
	same, known, err := SameDeployment(ctx, c.Src, marker, src, dst)
	if err != nil {
		return err
	}
	if !same {
		// A shard read directly (--shard, src.shards) keeps only part of
		// its cluster's databases: the marker lies on the reserved
		// database's primary shard, perhaps another. Its shard identity
		// names its cluster, which a mongos destination of the same
		// cluster (or another of its shards) names too.
		if srcCluster != "" {
			dc := dst.ID
			if !strings.HasPrefix(dc, "cluster:") {
				dc, _, _ = ShardCluster(ctx, c.Dst)
			}
			if dc == srcCluster {
				same, known = true, true
			}
		}
	}
	if !known {
		c.Log.Warn("cannot tell whether source and destination are one deployment: the source user may not read database " +
			config.ReservedDB + " and the replica set ids are not both known; make sure dst does not name the source")
		return nil
	}
	if !same {
		return nil
	}
	if c.NS == nil {
		return refuse("source %s and destination %s are one deployment", c.SrcName, c.DstName)
	}
	if ov := c.NS.Overlap(); len(ov) > 0 {
		return refuse("source %s and destination %s are one deployment, and the sync would write into what it reads: %s. "+
			"Point dst at another deployment, or give every selected database a rename_db that is not itself selected",
			c.SrcName, c.DstName, strings.Join(ov, "; "))
	}
	c.Log.Info("source and destination are one deployment: every selected namespace is renamed to one that is not read")
	return nil
}

// destIsSource is the same-deployment check of a command that reads no
// source (the applier): the destination's own identity against the source
// the state file or the spool recorded.
func (c *Check) destIsSource(ctx context.Context, b store.Binding, sid spool.Identity) error {
	srcID := b.Source
	if srcID == "" {
		srcID = sid.Source
	}
	if srcID == "" {
		return nil
	}
	dst, err := Source(ctx, c.Dst)
	if err != nil || dst.Weak != "" {
		return nil // no strong identity to compare: the source side checked it
	}
	if !spool.SameSource(srcID, dst.ID) && !spool.SameSource(dst.ID, srcID) {
		return nil
	}
	if c.NS == nil {
		return refuse("destination %s is the source this sync reads (%s)", c.DstName, dst.ID)
	}
	if ov := c.NS.Overlap(); len(ov) > 0 {
		return refuse("destination %s is the source this sync reads (%s), and the sync would write into what it reads: %s. Point dst at another deployment",
			c.DstName, dst.ID, strings.Join(ov, "; "))
	}
	return nil
}

// binding reads the state file's binding.
func (c *Check) binding() (b store.Binding, recorded, fresh bool, err error) {
	if c.Store == nil {
		return b, false, false, nil
	}
	if b, recorded, err = c.Store.Binding(); err != nil {
		return
	}
	fresh, err = c.Store.Fresh()
	return
}

func (c *Check) compare(ctx context.Context, b *store.Binding, src Deployment, marker string) error {
	if c.Src != nil && b.Source != "" && !spool.SameSource(b.Source, src.ID) && !spool.SameSource(src.ID, b.Source) {
		return refuse("state file %s belongs to a sync from source %s (%s), not from %s (%s). "+
			"To sync from %s, give it its own store.path and spool.dir; to go on, point src back at %s",
			c.StatePath, b.SourceName, b.Source, c.SrcName, src.ID, c.SrcName, b.SourceName)
	}
	if c.Dst != nil && b.Dest != "" && b.Dest != marker {
		return refuse("state file %s belongs to a sync into destination %s (marker %s), not into %s (marker %s): "+
			"its checkpoint means nothing there, and going on would give %s only the writes made from now on. "+
			"To sync into %s from scratch, give it its own store.path and spool.dir; to go on, point dst back at %s",
			c.StatePath, b.DestName, b.Dest, c.DstName, marker, c.DstName, c.DstName, b.DestName)
	}
	if c.NS == nil || b.Selection == "" {
		return nil
	}
	before, err := config.ParseSelection(b.Selection)
	if err != nil {
		return fmt.Errorf("state file %s: %w", c.StatePath, err)
	}
	ch := config.CompareSelection(before, c.NS.Selection())
	if len(ch.Changed) > 0 {
		return refuse("sync.dbs changes the rename or the fields of namespaces already synced: %s. "+
			"To change one: remove it from sync.dbs and run once, drop (or keep) its destination namespace, then sync it with a config of its own",
			strings.Join(ch.Changed, "; "))
	}
	if len(ch.Added) > 0 && !c.AddOnline {
		return refuse("sync.dbs now selects what state file %s never copied: %s. Their documents would arrive only as the writes made from now on. "+
			"mongo-sync sync copies added namespaces of a replica set source before it applies on (the separate reader, applier and copy commands, and a sharded source, do not); "+
			"or sync them with a config of their own (another store.path and spool.dir)",
			c.StatePath, strings.Join(ch.Added, "; "))
	}
	if len(ch.Added) > 0 && !c.StateReadOnly {
		if err := c.prepareAddition(ctx, before, b.AddingFrom != ""); err != nil {
			return err
		}
		if b.AddingFrom == "" {
			b.AddingFrom = b.Selection // an earlier addition not yet copied keeps its older start
		}
		c.Log.WithField("added", strings.Join(ch.Added, "; ")).
			Warn("sync.dbs now selects namespaces this sync never copied: they are copied first, then the applier goes on with them")
	}
	if len(ch.Removed) > 0 && !c.StateReadOnly {
		c.Log.WithField("removed", strings.Join(ch.Removed, "; ")).
			Warn("sync.dbs no longer selects these: they are not applied from now on; their destination data stays as it is")
	}
	return nil
}

// checkSpool checks the spool against the state's binding and the source,
// and returns the spool's identity (recorded now if it had none and the
// command owns the spool).
func (c *Check) checkSpool(b store.Binding, recorded, fresh bool, src Deployment) (spool.Identity, error) {
	sid, ok, err := spool.ReadIdentity(c.SpoolDir)
	if err != nil {
		return sid, err
	}
	if ok {
		if c.Src != nil && sid.Source != "" && !spool.SameSource(sid.Source, src.ID) && !spool.SameSource(src.ID, sid.Source) {
			return sid, refuse("spool %s holds the oplog of source %s, not of %s (%s): use another spool.dir",
				c.SpoolDir, sid.Source, c.SrcName, src.ID)
		}
		if recorded && b.SpoolID != "" && sid.ID != b.SpoolID && sid.StateID != b.StateID {
			return sid, refuse("spool %s (id %s) is not the one state file %s drains (id %s): it was replaced. "+
				"Put the original spool back, or start this sync over with an empty state file and spool",
				c.SpoolDir, sid.ID, c.StatePath, b.SpoolID)
		}
		lost, err := c.lostNeeded()
		if err != nil {
			return sid, err
		}
		if !lost {
			if c.OwnsSpool && c.Src != nil && sid.Source == "" {
				// Prepared by an applier, which does not know the source.
				sid.Source = src.ID
				return sid, spool.WriteIdentity(c.SpoolDir, sid)
			}
			return sid, nil
		}
		// A state file older than its spool (restored from a backup after
		// retention removed segments it needs): refilled from its own
		// position, as a lost spool is (below).
		if err := c.moveSpoolAside("refill"); err != nil {
			return sid, err
		}
	}
	empty, err := spool.Empty(c.SpoolDir)
	if err != nil {
		return sid, err
	}
	if !empty && recorded && b.SpoolID != "" {
		return sid, refuse("spool %s has no identity, but state file %s drains spool %s: it was replaced by another one. "+
			"Put the original spool back, or start this sync over with an empty state file and spool", c.SpoolDir, c.StatePath, b.SpoolID)
	}
	if empty && c.StateBusy {
		// A running applier prepares the spool's identity when it starts:
		// an empty spool without one was removed under it.
		return sid, refuse("spool %s is empty and has no identity while an applier holds state file %s: the spool was removed or replaced under it. "+
			"Stop the applier, then start the reader (or sync) again: it refills the spool from the state's position", c.SpoolDir, c.StatePath)
	}
	if !empty && !c.OwnsSpool {
		return spool.Identity{}, nil // written before identities: its writer records it
	}
	sid = spool.Identity{ID: spool.NewID(), Source: src.ID, StateID: b.StateID, Created: time.Now().UTC()}
	if c.Store != nil && empty && !fresh {
		start, first, needed, err := c.refillPoint()
		if err != nil {
			return sid, err
		}
		if needed {
			sid.FirstSeq = first
			if err := spool.SetStart(c.SpoolDir, start); err != nil {
				return sid, fmt.Errorf("refill spool %s: %w", c.SpoolDir, err)
			}
			c.Log.WithFields(logrus.Fields{"spool": c.SpoolDir, "from_ts": oplog.FormatTS(start), "first_seq": first}).
				Warn("the spool lost what the state file still needs (removed or replaced): refilling it from the source's oplog at the state's position")
		}
	}
	if !empty {
		c.Log.WithField("spool", c.SpoolDir).Info("spool written before identities were recorded: recording its identity now")
	}
	if c.Src == nil {
		sid.Source = ""
	}
	return sid, spool.WriteIdentity(c.SpoolDir, sid)
}

// lostNeeded reports a spool that no longer holds the entry after the state
// file's checkpoint: retention removed it, and the state file was put back
// from before. The command that owns the spool refills it; any other
// refuses, saying what to run.
func (c *Check) lostNeeded() (bool, error) {
	if c.Store == nil {
		return false, nil
	}
	ck, err := c.Store.Checkpoint()
	if err != nil || ck.Seq == 0 {
		return false, err
	}
	l, err := spool.List(c.SpoolDir)
	if err != nil || len(l.Sealed) == 0 || l.Sealed[0].First <= ck.Seq+1 {
		return false, err
	}
	if !c.OwnsSpool || c.StateBusy {
		return false, refuse("spool %s begins at seq %d, but state file %s needs it from seq %d (its checkpoint is seq %d at %s): "+
			"the state file is older than the spool (restored from a backup?). Start sync, or the reader with no applier running, "+
			"to refill the spool from the source's oplog at %s",
			c.SpoolDir, l.Sealed[0].First, c.StatePath, ck.Seq+1, ck.Seq, oplog.FormatTS(ck.TS), oplog.FormatTS(after(ck.TS)))
	}
	return true, nil
}

// moveSpoolAside renames the spool directory to <spool>.before-<why>-<time>,
// kept for the operator to remove.
func (c *Check) moveSpoolAside(why string) error {
	aside := fmt.Sprintf("%s.before-%s-%s", filepath.Clean(c.SpoolDir), why, time.Now().UTC().Format("20060102T150405"))
	// Two moves within one second (an addition restarted at once) get
	// names of their own: a rename onto the first would fail, or replace it.
	for n, base := 2, aside; ; n++ {
		_, err := os.Lstat(aside)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("move spool %s aside to refill it: %w", c.SpoolDir, err)
		}
		aside = fmt.Sprintf("%s-%d", base, n)
	}
	if err := c.widenWindow(); err != nil {
		return err
	}
	if err := os.Rename(c.SpoolDir, aside); err != nil {
		return fmt.Errorf("move spool %s aside to refill it: %w", c.SpoolDir, err)
	}
	c.Log.WithFields(logrus.Fields{"spool": c.SpoolDir, "old_spool": aside}).
		Warn("the spool is refilled from the state's position; the old one is kept aside: remove it once this sync runs")
	return nil
}

// widenWindow moves the copy's end (the replay window's) up to the newest
// entry of the spool about to be moved aside: a run before may have
// applied entries past the checkpoint, and refilled they come back to meet
// a destination that holds them already. The open segment a crashed sync
// left counts (its applier followed it; spool.ReadStat reads its newest
// entry from the file). A separate reader, which may not write the state
// file, leaves the window as it is.
func (c *Check) widenWindow() error {
	if c.StateReadOnly || c.Store.Stage() != store.StageApplied {
		return nil
	}
	stat, err := spool.ReadStat(c.SpoolDir)
	if err != nil {
		return fmt.Errorf("read spool %s before moving it aside: %w", c.SpoolDir, err)
	}
	if stat.OpenErr != nil {
		c.Log.WithError(stat.OpenErr).WithField("segment", stat.Writer.Segment).
			Warn("the open segment left by a stopped sync cannot be read: entries it held that were applied may come back outside the replay window")
	}
	if !c.Store.CopyEnd().Before(stat.NewestTS) {
		return nil
	}
	return c.Store.SetCopyEnd(stat.NewestTS)
}

// refillPoint is where a lost spool restarts: just after the checkpoint's
// entry (the smallest ts above it), numbered as the entry after it, so that
// no applied entry comes back (a commit replayed alone would be a
// transaction without its start); or, while nothing is applied, where the
// copy's spool began. needed is false when the state file needs nothing
// from the spool yet.
func (c *Check) refillPoint() (start bson.Timestamp, first uint64, needed bool, err error) {
	ck, err := c.Store.Checkpoint()
	if err != nil {
		return start, 0, false, err
	}
	if ck.Seq > 0 {
		return after(ck.TS), ck.Seq + 1, true, nil
	}
	if from := c.Store.SpoolFrom(); !from.IsZero() {
		return from, 1, true, nil
	}
	if t0 := c.Store.T0(); !t0.IsZero() {
		return t0, 1, true, nil
	}
	return start, 0, false, nil
}

// after is the smallest timestamp above ts.
func after(ts bson.Timestamp) bson.Timestamp {
	if ts.I == ^uint32(0) {
		return bson.Timestamp{T: ts.T + 1}
	}
	return bson.Timestamp{T: ts.T, I: ts.I + 1}
}

// prepareAddition readies a sync for namespaces added to its selection
// (before: the recorded one), before anything else is written:
//
//   - the spool is moved aside, to be refilled from the state's position
//     with the new selection (checkSpool): the old spool lacks the added
//     namespaces' plain writes but holds their transactions and, for a
//     database already partly selected, their commands; replayed over
//     their copy without the writes between them, those would undo it (a
//     transaction's older value, a drop of what was copied). So the source's
//     oplog must still hold that position, or the addition is refused;
//   - what the state file recorded of the added namespaces (an earlier
//     copy's marks, the catalog's collections there) is forgotten: a
//     namespace added back is copied afresh, not skipped as copied long ago.
func (c *Check) prepareAddition(ctx context.Context, before config.Selection, underWay bool) error {
	if underWay {
		if err := c.rewindToAddition(); err != nil {
			return err
		}
	}
	start, _, needed, err := c.refillPoint()
	if err != nil {
		return err
	}
	if !needed {
		// No position to refill from (an incremental sync that has applied
		// nothing yet): the spool's entries would be lost with it.
		if empty, err := spool.Empty(c.SpoolDir); err != nil {
			return err
		} else if !empty {
			return refuse("sync.dbs now selects namespaces this sync never copied, and state file %s has no position to refill the spool from yet (nothing applied, no copy): "+
				"run the sync without them until it has applied an entry, then add them", c.StatePath)
		}
	}
	if needed && c.Src != nil {
		oldest, err := reader.Oldest(ctx, c.Src)
		if err != nil {
			return fmt.Errorf("source %s: %w", c.SrcName, err)
		}
		if start.Before(oldest) {
			return refuse("sync.dbs now selects namespaces this sync never copied, and their history from the state's position %s is no longer in the source's oplog (its oldest entry is %s). "+
				"Let the sync catch up without them first, then add them; or sync them with a config of their own",
				oplog.FormatTS(start), oplog.FormatTS(oldest))
		}
	}
	add := config.NewAddition(c.NS, before)
	src := func(ns string) bool { db, coll := config.SplitNS(ns); return add.Added(db, coll) }
	n, err := c.Store.ForgetNamespaces(src, add.HeldDest)
	if err != nil {
		return err
	}
	if n > 0 {
		c.Log.WithField("records", n).Info("what an earlier copy recorded of the added namespaces is forgotten: they are copied afresh")
	}
	// The added namespaces' applier starts where the refilled spool does.
	ck, err := c.Store.Checkpoint()
	if err != nil {
		return err
	}
	if err := c.Store.Addition().Begin(ck); err != nil {
		return err
	}
	if _, err := os.Stat(c.SpoolDir); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	return c.moveSpoolAside("adding")
}

// rewindToAddition moves the checkpoint back to the position of an
// addition still under way, when namespaces are added again: the spool is
// refilled from one position, the older, and both appliers go on from it.
// Entries up to the checkpoint's old position are then applied again over
// a destination that may hold newer documents, so the copy's end (the
// replay window's) moves up to it.
func (c *Check) rewindToAddition() error {
	add := c.Store.Addition()
	if ok, err := add.Recorded(); err != nil || !ok {
		return err
	}
	from, err := add.Checkpoint()
	if err != nil {
		return err
	}
	ck, err := c.Store.Checkpoint()
	if err != nil || ck.Seq <= from.Seq {
		return err
	}
	if c.Store.CopyEnd().Before(ck.TS) {
		if err := c.Store.SetCopyEnd(ck.TS); err != nil {
			return err
		}
	}
	c.Log.WithFields(logrus.Fields{"from_seq": ck.Seq, "to_seq": from.Seq}).
		Warn("namespaces added again while an earlier addition is under way: the checkpoint goes back to where that addition began, and what follows is applied again")
	return c.Store.SetCheckpoint(from)
}
