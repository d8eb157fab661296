package translate

import (
	"bytes"
	"context"
	"fmt"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// movePrimary moves a database's unsharded collections from one shard to
// another, and logs it on both without a fromMigrate mark where it matters
// (mongodb/mongo, read for this; 4.4 to 8.0):
//
//   - the new primary clones each collection with a plain create under a
//     new UUID and plain createIndexes (src/mongo/db/cloner.cpp,
//     _createCollectionsForDb, userCreateNS), then inserts its documents
//     with fromMigrate true (cloner.cpp's batch handler);
//   - once the move commits, the old primary drops its copy with a plain
//     drop of the old UUID (4.4 to 6.x: MovePrimarySourceManager::
//     cleanStaleData; 7.0+: MovePrimaryCoordinator's dropStaleDataOnDonor).
//
// Replayed as logged, the new primary's create finds the collection there
// (NamespaceExists: done), its inserts are skipped as a migration's, and
// the old primary's drop then drops the destination's collection, every
// document of it: the new primary's later writes would re-create it with
// only those. The drop is not applied when, by the time it runs (a barrier
// the cross-shard gate admits only once every other shard has applied
// everything before it), another shard's catalog holds the namespace
// under another UUID: the collection lives on there. The shard's own
// catalog forgets the old UUID all the same.
//
// A sharded collection's drop is unaffected: the other shards drop theirs
// with fromMigrate first (migrated.go), which forgets the UUID there, and
// none places a new one at the name before the primary's drop.

// unlessMoved makes a drop of ui's collection a no-op when another shard
// holds its namespace under another UUID when the drop runs, or while a
// shard records a resharding of it (a 5.0 donor's drop: resharding.go).
func (t *Translator) unlessMoved(op exec.Op, ui []byte) exec.Op {
	if t.Elsewhere == nil || ui == nil {
		return op
	}
	run, ns := op.Cmd, op.NS
	op.Cmd = func(ctx context.Context, c *mongo.Client) error {
		if t.Resharding != nil {
			under, err := t.Resharding(ui)
			if err != nil {
				return fmt.Errorf("read the shards' reshardings of %s: %w", ns, err)
			}
			if under {
				return t.passOver(op, ui, "a resharding of this collection is under way, and its recipients rename their new copy over it (a donor's drop: resharding.go)")
			}
		}
		held, err := t.Elsewhere(ns)
		if err != nil {
			return fmt.Errorf("read the other shards' catalogs for %s: %w", ns, err)
		}
		for _, u := range held {
			if !bytes.Equal(u, ui) {
				return t.passOver(op, ui, "another shard holds this collection under a new UUID (movePrimary moved it there)")
			}
		}
		return run(ctx, c)
	}
	return op
}

// passOver is the drop op of collection ui not applied, for why: it
// records in the shard's state file that ui was dropped at the drop's ts
// (this shard's earlier entries of it, the drop included, replayed by this
// shard alone, then have no place on the destination either: catalog.gone;
// applied, its drop would drop the collection another shard holds now),
// says so, and tells the executor the drop is done.
func (t *Translator) passOver(op exec.Op, ui []byte, why string) error {
	if d, ok := t.Catalog.(droppedRecorder); ok {
		if err := d.DropCollection(ui, op.TS); err != nil {
			return fmt.Errorf("record the collection dropped: %w", err)
		}
	}
	if t.Log != nil {
		t.Log.WithFields(logrus.Fields{"ns": op.NS, "seq": op.Seq}).Warn("drop not applied: " + why)
	}
	return fmt.Errorf("%w: drop of %s not applied: %s", exec.ErrAlreadyApplied, op.NS, why)
}

// liveElsewhere reports whether a write of collection ui, which this
// shard's catalog neither knows nor finds another collection at dst for,
// still has a place there: not when another shard's catalog holds dst
// under another UUID. A shard that is not a sharded collection's primary
// logs its drop with fromMigrate (mongodb/mongo
// src/mongo/db/s/drop_collection_coordinator.cpp, 5.0+: participants drop
// with fromMigrate true, the primary shard plainly), which makes this
// shard's catalog forget the UUID but drops nothing on the destination;
// the primary's plain drop does, and the gate orders it after every
// write logged before it. A write of the dropped UUID replayed later by
// this shard alone (--replay-from, a catch-up window that began before
// the drop) then finds the name held elsewhere by the collection created
// since, and re-creating the old documents there is what this prevents.
// While the drop has not run, the primary still holds dst under ui.
func (t *Translator) liveElsewhere(ui []byte, dst string) (bool, error) {
	if t.Elsewhere == nil || ui == nil {
		return true, nil
	}
	held, err := t.Elsewhere(dst)
	if err != nil {
		return false, fmt.Errorf("read the other shards' catalogs for %s: %w", dst, err)
	}
	for _, u := range held {
		if bytes.Equal(u, ui) {
			return true, nil
		}
	}
	return len(held) == 0, nil
}
