package translate

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A resharding (reshardCollection from 5.0; 8.0's moveCollection and
// unshardCollection run on it) logs, on a sharded source (mongodb/mongo,
// read for this):
//
//   - on every recipient shard, a plain create of the temporary collection
//     <db>.system.resharding.<the original's UUID> under a new UUID
//     (src/mongo/db/s/resharding/resharding_data_copy_util.cpp
//     ensureCollectionExists; the name from resharding_util.cpp
//     constructTemporaryReshardingNss), and its clone and the donors'
//     writes into it (an internal namespace: not synced);
//   - once the resharding commits, on every recipient, a rename of the
//     temporary collection over the original with dropTarget (the
//     original's UUID): plain in the 5.0 era
//     (resharding_recipient_service.cpp _renameTemporaryReshardingCollection,
//     or the donor service's when the shard is both), with fromMigrate
//     later (resharding_data_copy_util.cpp
//     ensureTemporaryReshardingCollectionRenamed, markFromMigrate);
//   - on every donor that is no recipient, a drop of the original under
//     its old UUID, concurrent with the renames: plain in the 5.0 era
//     (resharding_donor_service.cpp _dropOriginalCollection..., through
//     ensureCollectionDropped, whose 5.0-era form passes no
//     markFromMigrate), with fromMigrate later;
//   - an abort drops the temporary collection (the same two forms).
//
// The temporary collection holds the same documents as the original, which
// the destination already holds from the original's entries. So its rename
// only moves the shard's catalog (the new UUID now lives at the original's
// destination namespace), whichever form it takes; and a donor's plain drop
// of the original must not be applied while a recipient has not renamed
// yet, or the destination's collection is emptied for good. Each shard's
// state file records the reshardings whose temporary collection it created
// and has neither renamed nor dropped (store.Store.SetResharding); a plain
// drop is not applied while any shard records one of its collection
// (Translator.Resharding, moved.go). The create is logged long before the
// commit, and the cross-shard gate admits the drop only once every other
// shard has applied everything logged before it.

// reshardingRecorder is the part of the state file that keeps reshardings
// under way (store.Store implements it).
type reshardingRecorder interface {
	SetResharding(orig, temp []byte) error
	EndResharding(orig []byte) error
	Reshardings() (map[string]bool, error)
}

// reshardingPrefix starts a resharding's temporary collection's name.
const reshardingPrefix = "system.resharding."

// reshardingOf is the UUID of the collection whose resharding's temporary
// collection is coll, or nil when coll is no such name.
func reshardingOf(coll string) []byte {
	s, ok := strings.CutPrefix(coll, reshardingPrefix)
	if !ok || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil
	}
	u, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(u) != 16 {
		return nil
	}
	return u
}

// reshardingMark records (begin) or forgets the resharding of collection
// orig in the shard's state file, once every write before it is
// acknowledged; it sends nothing.
func (t *Translator) reshardingMark(seq uint64, ts bson.Timestamp, ns string, orig, temp []byte, begin bool, cat *catalog) []exec.Op {
	rec, ok := t.Catalog.(reshardingRecorder)
	if !ok || cat == nil {
		return nil
	}
	if len(temp) == 0 {
		temp = []byte{0} // a value is kept; the entry had no ui
	}
	desc, hook := "resharding under way (the shard's state file only)", func() error { return rec.SetResharding(orig, temp) }
	cat.reshardings[string(orig)] = true
	if !begin {
		desc, hook = "resharding ended (the shard's state file only)", t.endResharding(orig, cat)
	}
	return []exec.Op{after(exec.Op{Seq: seq, TS: ts, NS: ns, Desc: desc, Cmd: sendNothing}, hook)}
}

// endResharding forgets the resharding of collection orig in the
// translator's view now, and returns the hook that forgets it in the
// shard's state file (nil where the state file keeps none).
func (t *Translator) endResharding(orig []byte, cat *catalog) func() error {
	rec, ok := t.Catalog.(reshardingRecorder)
	if !ok || cat == nil {
		return nil
	}
	delete(cat.reshardings, string(orig))
	return func() error { return rec.EndResharding(orig) }
}

// reshardingRenamed is the plain (5.0 era) rename of a resharding's
// temporary collection over the original, dst its destination namespace
// (dstOK: synced), ui the temporary collection's UUID, dropUI the
// original's: the shard's catalog places ui at dst, and nothing is sent.
// Its start must have been seen: without the record, a donor's plain drop
// of the original was applied (a resharding begun before the sync, a state
// file of an older build, shards replayed by separate processes, which see
// no other shard's record), so this stops, as the rename did before.
func (t *Translator) reshardingRenamed(seq uint64, ts bson.Timestamp, from, to, dst string, dstOK bool, orig, ui, dropUI []byte, cat *catalog) ([]exec.Op, error) {
	if where, known := cat.known(ui); dstOK && known && where == dst {
		// Renamed already: a restart after its hooks ran, or a replay.
		// Only this rename places the temporary collection's UUID there.
		t.Rec.ReapplyNoop(exec.ReasonDDLDone)
		if cat.reshardings[string(orig)] {
			return t.reshardingMark(seq, ts, from, orig, ui, false, cat), nil
		}
		return nil, nil
	}
	if dstOK && (t.Resharding == nil || cat == nil || !cat.reshardings[string(orig)]) {
		return nil, fmt.Errorf("renameCollection %s -> %s ends a resharding whose start this applier did not see (it began before the sync "+
			"or before this build's state file recorded reshardings, or the shards are replayed by separate --shard processes): "+
			"a 5.0 donor's plain drop of %s may have emptied %s on the destination, and this sync cannot tell; "+
			"start the sync afresh (empty destination collections, spool and state file) once the resharding has ended", from, to, to, dst)
	}
	var hooks []func() error
	where := from
	if dstOK && ui != nil {
		if _, known := cat.known(dropUI); known {
			hooks = append(hooks, cat.forget(dropUI))
		}
		if h := cat.holder(dst); h != "" && h != string(ui) && h != string(dropUI) {
			hooks = append(hooks, cat.forget([]byte(h)))
		}
		hooks, where = append(hooks, cat.set(ui, dst)), dst
	}
	// The record ends last: a crash before it leaves the rename to be
	// found done (above) when it is read again.
	hooks = append(hooks, t.endResharding(orig, cat))
	if t.Log != nil {
		t.Log.WithFields(logrus.Fields{"ns": dst, "seq": seq}).
			Info("resharding committed: its new copy replaces the collection on the source; the destination keeps its documents")
	}
	return []exec.Op{after(exec.Op{Seq: seq, TS: ts, NS: where, Desc: "renameCollection (a resharding's: the shard's catalog only)", Cmd: sendNothing}, hooks...)}, nil
}

// reshardingTemp reports the original collection's UUID when ns names a
// resharding's temporary collection.
func reshardingTemp(ns string) []byte {
	_, coll := config.SplitNS(ns)
	return reshardingOf(coll)
}
