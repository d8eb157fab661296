package applier

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/applier/translate"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/mongo-sync/mongo-sync/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestApplier_KeepHoldsSegments: an applier removes the segments it has
// applied (at once without retention; inside retention when the spool is
// at spool.max_bytes), except those another applier of the same spool
// still needs (Keep: an online addition's applier, behind it).
func TestApplier_KeepHoldsSegments(t *testing.T) {
	dst := testmongo.StartDest(t)
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		retention time.Duration
		maxBytes  int64
	}{
		{"no retention", 0, 0},
		{"retention, spool at max_bytes", time.Hour, 1},
	} {
		for _, keep := range []bool{false, true} {
			resetServer(t, dst.Client())
			dir := t.TempDir()
			spoolDir := filepath.Join(dir, "spool")
			w, err := spool.OpenWriter(spoolDir, spool.Options{SegmentMaxBytes: 1, Logger: testlog.Quiet()})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 6; i++ { // one entry per segment
				if _, _, err := w.Append(ctx, []bson.Raw{srcInsert(t, at(uint32(i)), i)}); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			st, err := store.Open(filepath.Join(dir, "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			sr, err := spool.OpenReader(spoolDir)
			if err != nil {
				t.Fatal(err)
			}
			a := &Applier{Spool: sr, SpoolDir: spoolDir, Store: st, Translator: translate.NewTranslator(nil),
				Exec:     &exec.Executor{Client: dst.Client(), Workers: 2, BulkSize: 10, Log: testlog.Quiet()},
				BatchOps: 1, BatchBytes: 16 << 20, Retention: c.retention, MaxBytes: c.maxBytes, LogInterval: 1 << 62, Log: testlog.Quiet(),
				Through: func() (uint64, bool) { return 6, true }}
			if keep {
				a.Keep = func() uint64 { return 3 } // the other applier's next entry
			}
			if err := a.Run(ctx); err != nil {
				t.Fatal(err)
			}
			sr.Close()
			st.Close()
			l, err := spool.List(spoolDir)
			if err != nil {
				t.Fatal(err)
			}
			want := uint64(6) // the newest sealed segment always stays
			if keep {
				want = 3
			}
			if len(l.Sealed) == 0 || l.Sealed[0].First != want {
				t.Errorf("%s, keep %v: the oldest segment left is %+v, want the one of seq %d", c.name, keep, l.Sealed, want)
			}
		}
	}
}
