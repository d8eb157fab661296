package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/internal/testsync"
	"github.com/mongo-sync/mongo-sync/store"
)

// A sync stopped while its applier waits for the reader's spool (the
// reader never started, or failed): newApplier returns no applier and no
// error, having released what it opened. Its cleanup once called the
// function it returned, nil on that path: a panic at every such stop.
func TestNewApplier_StoppedWhileWaitingForTheSpool(t *testing.T) {
	dst := testmongo.StartDest(t)
	dir := t.TempDir()
	cfg, err := config.Load(testsync.WriteConfig(t, dir, dst.URI, dst.URI, ""))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // the writer never comes
	defer cancel()
	a, done, err := newApplier(ctx, cfg, ApplyOptions{live: newLiveSpool()}, st, nil, testlog.Quiet())
	if a != nil || done != nil || err != nil {
		t.Fatalf("newApplier after its context ended: %v, %v, %v; want nothing", a, done != nil, err)
	}
}
