package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A sync killed while it pinned the shards' T0s (some recorded, others not)
// may pin the rest on restart; state files where a recorded shard has read
// or copied anything are a shard added after the sync began, refused.
func TestPinningInterrupted(t *testing.T) {
	stage := func(t *testing.T, pinned bool) *shardStage {
		dir := t.TempDir()
		cfg := &config.Config{}
		cfg.Spool.Dir = filepath.Join(dir, "spool")
		st, err := store.Open(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if pinned {
			if err := recordT0(cfg, st, copier.Pin{T0: bson.Timestamp{T: 1700000000, I: 1}, From: bson.Timestamp{T: 1700000000, I: 1}}, "test", testlog.Quiet()); err != nil {
				t.Fatal(err)
			}
		}
		return &shardStage{name: filepath.Base(dir), cfg: cfg, st: st}
	}
	top := &config.Config{}
	top.Store.Path = filepath.Join(t.TempDir(), "copy-state.db") // the copy through a mongos: none
	t.Run("pinned and fresh", func(t *testing.T) {
		if !pinningInterrupted(top, []*shardStage{stage(t, true), stage(t, false), stage(t, true)}) {
			t.Fatal("T0s only, nothing read or copied: want pinning interrupted")
		}
	})
	// Each change to a pinned shard (or to the copy through the mongos)
	// shows that more than the pinning ran: refused.
	openSpool := func(t *testing.T, s *shardStage) *spool.Writer {
		w, err := spool.OpenWriter(s.cfg.Spool.Dir, spool.Options{Logger: testlog.Quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, c := range []struct {
		name   string
		change func(t *testing.T, s *shardStage, top *config.Config)
	}{
		{"a pinned shard copied something", func(t *testing.T, s *shardStage, _ *config.Config) {
			if err := s.st.SetCollDone("shop.orders"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a pinned shard spooled something", func(t *testing.T, s *shardStage, _ *config.Config) {
			w := openSpool(t, s)
			defer w.Close()
			raw, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000001, I: 1}}, {Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{}}})
			if _, _, err := w.Append(context.Background(), []bson.Raw{raw}); err != nil {
				t.Fatal(err)
			}
		}},
		{"the copy through the mongos began", func(t *testing.T, _ *shardStage, top *config.Config) {
			st, err := store.Open(top.Store.Path)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
		}},
		{"a pinned shard whose spool start is gone (the reader would begin at the newest entry)", func(t *testing.T, s *shardStage, _ *config.Config) {
			if err := os.Remove(filepath.Join(s.cfg.Spool.Dir, "START")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a pinned shard whose reader opened its spool, nothing spooled", func(t *testing.T, s *shardStage, _ *config.Config) {
			openSpool(t, s).Close()
		}},
		{"a shard past the copy", func(t *testing.T, s *shardStage, _ *config.Config) {
			if err := s.st.SetStage(store.StageApplied); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := stage(t, true)
			own := &config.Config{}
			own.Store.Path = filepath.Join(t.TempDir(), "copy-state.db")
			c.change(t, s, own)
			if pinningInterrupted(own, []*shardStage{s, stage(t, false)}) {
				t.Fatalf("%s: want refused", c.name)
			}
		})
	}
}

// TestPinningInterrupted_SpoolBeforeT0: a pinned shard whose spool starts
// before its T0 (a transaction was open at the pin) is still one that only
// pinned; a spool start after T0 is not something a pin records.
func TestPinningInterrupted_SpoolBeforeT0(t *testing.T) {
	stage := func(t *testing.T, pin *copier.Pin) *shardStage {
		dir := t.TempDir()
		cfg := &config.Config{}
		cfg.Spool.Dir = filepath.Join(dir, "spool")
		st, err := store.Open(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if pin != nil {
			if err := recordT0(cfg, st, *pin, "test", testlog.Quiet()); err != nil {
				t.Fatal(err)
			}
		}
		return &shardStage{name: filepath.Base(dir), cfg: cfg, st: st}
	}
	top := &config.Config{}
	top.Store.Path = filepath.Join(t.TempDir(), "copy-state.db")
	t0 := bson.Timestamp{T: 1700000100, I: 1}
	before := copier.Pin{T0: t0, From: bson.Timestamp{T: 1700000050, I: 3}}
	if !pinningInterrupted(top, []*shardStage{stage(t, &before), stage(t, nil)}) {
		t.Fatal("a shard pinned with its spool before T0: want pinning interrupted")
	}
	s := stage(t, &before)
	if err := spool.SetStart(s.cfg.Spool.Dir, bson.Timestamp{T: 1700000200, I: 1}); err != nil {
		t.Fatal(err)
	}
	if pinningInterrupted(top, []*shardStage{s, stage(t, nil)}) {
		t.Fatal("a spool start after T0: want refused")
	}
}
