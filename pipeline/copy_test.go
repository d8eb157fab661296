package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/status"
)

// A copy without a source or a destination is refused before it writes
// anything: no state file is left behind for the next run to find.
func TestCopy_MissingSideWritesNoStateFile(t *testing.T) {
	for _, side := range []string{"src", "dst"} {
		cfg := config.Default()
		if side == "src" {
			cfg.Dst.URI = "mongodb://127.0.0.1:1/"
		} else {
			cfg.Src.URI = "mongodb://127.0.0.1:1/"
		}
		cfg.Store.Path = filepath.Join(t.TempDir(), "state.db")
		if err := Copy(context.Background(), cfg, status.New("copy"), testlog.Quiet()); err == nil {
			t.Fatalf("a copy without %s: no error", side)
		}
		if _, err := os.Stat(cfg.Store.Path); !os.IsNotExist(err) {
			t.Errorf("a copy without %s left a state file (%v)", side, err)
		}
	}
}
