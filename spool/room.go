package spool

import (
	"context"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/sirupsen/logrus"
)

// waitForRoom blocks while the spool holds MaxBytes or more, until the
// applier removes segments. Called with w.mu held.
func (w *Writer) waitForRoom(ctx context.Context) error {
	if w.opts.MaxBytes <= 0 || w.sealedBytes+w.openBytes < w.opts.MaxBytes {
		return nil
	}
	delay := 50 * time.Millisecond
	warned := time.Time{}
	for {
		total, err := w.diskBytes()
		if err != nil {
			return err
		}
		if total < w.opts.MaxBytes {
			if !warned.IsZero() {
				w.log.WithField("spool_bytes", total).Info("spool has room again: appending")
			}
			return nil
		}
		// Let the applier drain what the open segment holds. A seal that
		// fails for want of disk space is retried (unsealed.go); the
		// applier frees that space too.
		if err := w.sealLocked(); err != nil && !isNoSpace(err) {
			return err
		}
		if time.Since(warned) > 30*time.Second {
			w.log.WithFields(logrus.Fields{"spool_bytes": total, "max_bytes": w.opts.MaxBytes}).
				Warn("spool is full (spool.max_bytes): waiting for the applier to free space")
			warned = time.Now()
		}
		if err := retry.Sleep(ctx, delay); err != nil {
			return err
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}

// diskBytes rescans the directory (the applier removes segments behind the
// writer's back) and returns what counts against MaxBytes: everything but
// the newest sealed segment, which Remove always keeps for the writer's
// position — counting it could block the writer forever once that one
// segment is as large as the cap.
func (w *Writer) diskBytes() (int64, error) {
	l, err := List(w.dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for i, s := range l.Sealed {
		if i < len(l.Sealed)-1 {
			n += s.Size
		}
	}
	w.sealedBytes = n
	return n + w.openBytes, nil
}
