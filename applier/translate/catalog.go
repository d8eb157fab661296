package translate

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/failpoint"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Catalog keeps which destination namespace holds each source collection,
// by the UUID that oplog entries carry (ui): store.Store implements it. The
// copy records every collection it copies; the applier moves an entry once
// a create, rename or drop has run on the destination.
type Catalog interface {
	Collections() (map[string]string, error)
	SetCollection(uuid []byte, ns string) error
	DeleteCollection(uuid []byte) error
}

// catalog is the translator's view of the Catalog: it moves as entries are
// translated (later entries of a batch see earlier renames), while the
// store moves only after the command ran on the destination, so a restart
// replays a rename that never ran.
type catalog struct {
	store  Catalog
	byUUID map[string]string // uuid → destination ns
	byNS   map[string]string // destination ns → uuid
	// dropped: collections this shard saw dropped by a drop that was not
	// applied on the destination (a fromMigrate drop or dropDatabase:
	// migrated.go; a plain drop passed over: moved.go), with the drop's ts.
	// What this shard logged of them before that, replayed by it alone
	// (--replay-from, a catch-up window), has no place on the destination:
	// another shard's entry dropped the collection there, or holds its
	// documents now (gone).
	dropped map[string]bson.Timestamp
	// reshardings: the reshardings this shard's recipient began and has
	// not ended, by the original collection's UUID (resharding.go).
	reshardings map[string]bool
}

// droppedRecorder is the part of the state file that keeps dropped
// collections (store.Store implements it).
type droppedRecorder interface {
	DropCollection(uuid []byte, ts bson.Timestamp) error
	Dropped() (map[string]bson.Timestamp, error)
}

func (t *Translator) catalog() (*catalog, error) {
	if t.Catalog == nil {
		return nil, nil
	}
	if t.cat == nil {
		m, err := t.Catalog.Collections()
		if err != nil {
			return nil, fmt.Errorf("read the collection catalog: %w", err)
		}
		c := &catalog{store: t.Catalog, byUUID: m, byNS: make(map[string]string, len(m)), dropped: map[string]bson.Timestamp{}, reshardings: map[string]bool{}}
		for u, ns := range m {
			c.byNS[ns] = u
		}
		if d, ok := t.Catalog.(droppedRecorder); ok {
			if c.dropped, err = d.Dropped(); err != nil {
				return nil, fmt.Errorf("read the dropped collections: %w", err)
			}
		}
		if r, ok := t.Catalog.(reshardingRecorder); ok {
			if c.reshardings, err = r.Reshardings(); err != nil {
				return nil, fmt.Errorf("read the reshardings under way: %w", err)
			}
		}
		t.cat = c
	}
	return t.cat, nil
}

// where is the namespace the writes of collection ui go to, given dst, the
// namespace its entry names. live is false when ui is unknown but dst now
// holds another known collection: the entry's collection was dropped or
// replaced later in the window, so its writes have no place to go.
func (c *catalog) where(ui []byte, dst string) (ns string, live bool) {
	if c == nil || ui == nil {
		return dst, true
	}
	if ns, ok := c.byUUID[string(ui)]; ok {
		return ns, true
	}
	if h, ok := c.byNS[dst]; ok && h != string(ui) {
		return "", false
	}
	return dst, true
}

// gone reports whether ui is a collection this shard saw dropped at or
// after ts (the ts of an entry of it): the entry comes from a replay (the
// drop itself included), and has no place on the destination.
func (c *catalog) gone(ui []byte, ts bson.Timestamp) bool {
	if c == nil || ui == nil {
		return false
	}
	d, ok := c.dropped[string(ui)]
	return ok && !d.Before(ts)
}

func (c *catalog) known(ui []byte) (string, bool) {
	if c == nil || ui == nil {
		return "", false
	}
	ns, ok := c.byUUID[string(ui)]
	return ns, ok
}

// holder is the known collection at ns ("" when none).
func (c *catalog) holder(ns string) string {
	if c == nil {
		return ""
	}
	return c.byNS[ns]
}

// set records, in memory, that ui lives at ns; the returned function
// records it in the store once the command has run.
func (c *catalog) set(ui []byte, ns string) func() error {
	if c == nil || ui == nil {
		return nil
	}
	u := string(ui)
	if old, ok := c.byUUID[u]; ok && c.byNS[old] == u {
		delete(c.byNS, old)
	}
	delete(c.dropped, u)
	c.byUUID[u], c.byNS[ns] = ns, u
	key := []byte(u)
	return func() error { return c.store.SetCollection(key, ns) }
}

// forget records that ui no longer exists.
func (c *catalog) forget(ui []byte) func() error {
	if c == nil || ui == nil {
		return nil
	}
	u := string(ui)
	if ns, ok := c.byUUID[u]; ok && c.byNS[ns] == u {
		delete(c.byNS, ns)
	}
	delete(c.byUUID, u)
	key := []byte(u)
	return func() error { return c.store.DeleteCollection(key) }
}

// drop forgets ui as forget does, and records it dropped at ts (gone)
// where the state file keeps that.
func (c *catalog) drop(ui []byte, ts bson.Timestamp) func() error {
	if c == nil || ui == nil {
		return nil
	}
	d, ok := c.store.(droppedRecorder)
	if !ok {
		return c.forget(ui)
	}
	c.forget(ui)
	c.dropped[string(ui)] = ts
	key := []byte(string(ui))
	return func() error { return d.DropCollection(key, ts) }
}

// forgetDB forgets every collection of the destination database db;
// dropped: records each dropped at ts, as drop does.
func (c *catalog) forgetDB(db string, dropped bool, ts bson.Timestamp) func() error {
	if c == nil {
		return nil
	}
	var hooks []func() error
	for u, ns := range c.byUUID {
		if d, _ := config.SplitNS(ns); d == db {
			if dropped {
				hooks = append(hooks, c.drop([]byte(u), ts))
			} else {
				hooks = append(hooks, c.forget([]byte(u)))
			}
		}
	}
	return both(hooks...)
}

// both runs hooks in order (nil ones are skipped).
func both(hooks ...func() error) func() error {
	return func() error {
		for _, h := range hooks {
			if h == nil {
				continue
			}
			if err := h(); err != nil {
				return fmt.Errorf("record the collection catalog: %w", err)
			}
		}
		return nil
	}
}

// after makes op run hook once its command took effect (or had already).
func after(op exec.Op, hooks ...func() error) exec.Op {
	cmd, hook := op.Cmd, both(hooks...)
	op.Cmd = func(ctx context.Context, c *mongo.Client) error {
		err := cmd(ctx, c)
		var rn *exec.RenamedError
		if err != nil && !errors.Is(err, exec.ErrAlreadyApplied) && !errors.As(err, &rn) {
			return err
		}
		failpoint.Hit("applier-after-ddl") // the command ran, the catalog does not say so yet
		if herr := hook(); herr != nil {
			return herr
		}
		return err
	}
	return op
}

// uuidOf is an entry's ui (a UUID BinData), nil when it has none.
func uuidOf(raw bson.Raw) []byte {
	v, err := raw.LookupErr("ui")
	if err != nil {
		return nil
	}
	return oplog.BinaryUUID(bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
}

// superseded is the no-op of an entry whose collection no longer has a
// place on the destination (see catalog.where).
func (t *Translator) superseded(seq uint64, ts bson.Timestamp, ns, what string) {
	t.Rec.ReapplyNoop(exec.ReasonCollMoved)
	if t.Log != nil {
		t.Log.WithFields(logrus.Fields{"seq": seq, "ts": oplog.FormatTS(ts), "ns": ns, "reason": exec.ReasonCollMoved}).
			Debug(what + ": its collection was dropped or replaced later in the window")
	}
}
