package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
)

// A seal is two steps: close the segment's bbolt file, then rename it to its
// sealed name and sync the directory. When the second step fails (a full
// filesystem may refuse the rename or the directory sync), the file is still
// named open and holds committed entries. The writer remembers it as
// unsealed and finishes the seal before it opens another segment, so a spool
// never holds two open segments: every committed entry is in one file that a
// reader and a restart find in seq order. Until then nothing is appended
// (Append waits at a full disk, as for any other lack of space) and the seal
// is retried on a timer, so an idle writer hands the entries on too.

// rename is os.Rename; tests make it fail.
var rename = os.Rename

// sealRetryMax caps the delay between two retries of a failed seal.
const sealRetryMax = 30 * time.Second

// finishSeal renames the unsealed segment, if there is one, to its sealed
// name, or removes it when it holds no entry. Called with w.mu held.
func (w *Writer) finishSeal() error {
	seg := w.unsealed
	if seg == nil {
		return nil
	}
	if seg.Last == 0 { // no entry was committed to it
		if err := os.Remove(seg.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove empty spool segment %s: %w", seg.Path, err)
		}
		w.sealed()
		return nil
	}
	to := filepath.Join(w.dir, sealedName(seg.First, seg.Last))
	if err := rename(seg.Path, to); err != nil && !renamedBefore(err, to) {
		return fmt.Errorf("seal spool segment %s (seq %d-%d) as %s: %w", seg.Path, seg.First, seg.Last, filepath.Base(to), err)
	}
	if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("seal spool segment %s (seq %d-%d): sync directory: %w", seg.Path, seg.First, seg.Last, err)
	}
	if w.sealRetry > 0 {
		w.log.WithFields(logrus.Fields{"segment": filepath.Base(to), "first_seq": seg.First, "last_seq": seg.Last}).
			Info("sealed a segment whose seal had failed")
	}
	w.sealed()
	w.sealedBytes += w.openBytes
	w.openBytes = 0
	w.publish()
	if w.opts.OnSeal != nil {
		w.opts.OnSeal()
	}
	return nil
}

// sealed forgets the unsealed segment and stops retrying its seal.
func (w *Writer) sealed() {
	w.unsealed, w.sealRetry = nil, 0
	if w.timer != nil { // a retry's: nothing is left to retry
		w.timer.Stop()
		w.timer = nil
	}
}

// renamedBefore tells whether a rename that failed for want of its source
// had been done already: an earlier attempt renamed the file, then the
// directory sync after it failed.
func renamedBefore(err error, to string) bool {
	if !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	_, serr := os.Lstat(to)
	return serr == nil
}

// retrySealLater schedules another seal of the unsealed segment, with a
// delay that doubles up to sealRetryMax. Called with w.mu held.
func (w *Writer) retrySealLater() {
	if w.unsealed == nil || w.timer != nil || w.closed {
		return
	}
	w.sealRetry = min(max(2*w.sealRetry, w.opts.SealInterval), sealRetryMax)
	w.timer = time.AfterFunc(w.sealRetry, w.sealOnTimer)
}
