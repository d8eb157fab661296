package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// diskFullLogEvery bounds how often a writer waiting for disk space says so.
const diskFullLogEvery = 30 * time.Second

// diskFull is one Append's wait for disk space: when the filesystem holding
// the spool is full, the writer removes applied segments kept for
// retention, oldest first, and otherwise waits and tries the same batch
// again, as it waits at spool.max_bytes.
type diskFull struct {
	since, warned time.Time
	delay         time.Duration
}

// isDiskFull tells whether an append failed for want of disk space: ENOSPC
// or EDQUOT in err's chain or, because bbolt reports a failure to grow or map
// its file without wrapping the cause, one of those failures (see
// bboltGrowthCause) whose cause ends in ENOSPC's or EDQUOT's text, or that
// came while the filesystem has less free space than the batch needs. Any other
// error (permissions, a damaged or closed file, an I/O error) is not waited
// on, however full the disk: the caller returns it.
func (w *Writer) isDiskFull(err error, raws []bson.Raw) bool {
	if isNoSpace(err) {
		return true
	}
	prefix, cause, ok := bboltGrowthCause(err)
	if !ok {
		return false
	}
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		// The cause as bbolt formats it: an *os.PathError ("truncate
		// <file>: <errno>") or a bare errno.
		if cause == e.Error() || strings.HasSuffix(cause, ": "+e.Error()) {
			return true
		}
	}
	if prefix == bboltSyncPrefix {
		// An fsync fails for want of space with ENOSPC, matched above;
		// anything else (EIO) is the device's, not the space's.
		return false
	}
	free, ferr := freeBytes(w.dir)
	return ferr == nil && free < needBytes(raws)
}

// isNoSpace tells whether err's chain holds ENOSPC or EDQUOT.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// bboltGrowthPrefixes begin the errors bbolt (v1.5.0, db.go) returns when it
// fails to grow its file or map it again at the new size: DB.grow's "file
// resize error: %s" (ftruncate) and "file sync error: %s" (fsync), and
// DB.allocate's "mmap allocate error: %s" (the remap). They format the cause
// with %s, not %w, so errors.Is cannot find an ENOSPC in them, and bbolt
// offers no type or sentinel for them: these fixed prefixes are the only way
// to tell them from its other errors. This is the one place the spool
// classifies an error by its text; TestIsDiskFull_BboltGrowthError makes
// bbolt return a real one, so a bbolt upgrade that changes them fails there.
var bboltGrowthPrefixes = []string{"file resize error: ", bboltSyncPrefix, "mmap allocate error: "}

// bboltSyncPrefix begins DB.grow's failed fsync.
const bboltSyncPrefix = "file sync error: "

// bboltGrowthCause finds a bbolt growth error in err's chain and returns
// its prefix and the text of its cause.
func bboltGrowthCause(err error) (prefix, cause string, ok bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		for _, p := range bboltGrowthPrefixes {
			if strings.HasPrefix(msg, p) {
				return p, msg[len(p):], true
			}
		}
	}
	return "", "", false
}

// freeBytes is FreeBytes; tests make the disk look full.
var freeBytes = FreeBytes

// needBytes is about what appending raws to a new segment writes: the
// entries, and the four pages a new bbolt file starts with.
func needBytes(raws []bson.Raw) int64 {
	n := int64(boltInitPages * os.Getpagesize())
	for _, raw := range raws {
		n += int64(entryLen(raw))
	}
	return n
}

// FreeBytes is the space the filesystem holding dir has for this process
// (statfs: the blocks available to an unprivileged user). Its error is an
// *os.PathError naming statfs and dir.
func FreeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// wait makes room after a failed append, or waits a while, then returns nil
// for the caller to try again; it returns an error only when ctx ends or
// the spool cannot be put in order. Called with w.mu held.
func (d *diskFull) wait(ctx context.Context, w *Writer, raws []bson.Raw, cause error) error {
	first, last := w.next, w.next+uint64(len(raws))-1
	if d.since.IsZero() {
		d.since, d.delay = time.Now(), 50*time.Millisecond
	}
	// What the open segment committed stays; sealing it hands it to the
	// applier and drops a file whose growth failed (or removes it, when it
	// holds nothing): the next try starts a fresh one.
	if err := w.sealLocked(); err != nil && !w.isDiskFull(err, raws) {
		return fmt.Errorf("append seq %d-%d: disk full (%v), then: %w", first, last, cause, err)
	}
	removed, err := w.removeApplied()
	if err != nil {
		return fmt.Errorf("append seq %d-%d: disk full (%v), then: %w", first, last, cause, err)
	}
	if removed > 0 {
		return nil // try again at once
	}
	if time.Since(d.warned) >= diskFullLogEvery {
		f := logrus.Fields{"dir": w.dir, "first_seq": first, "last_seq": last, "need_bytes": needBytes(raws), "waiting": time.Since(d.since).Round(time.Second).String()}
		if free, err := freeBytes(w.dir); err == nil {
			f["free_bytes"] = free
		}
		w.log.WithFields(f).WithError(cause).Warn("spool disk is full: waiting for space to append (free some on this filesystem; applied segments kept for retention are removed as the applier passes them)")
		d.warned = time.Now()
	}
	if err := retry.Sleep(ctx, d.delay); err != nil {
		return fmt.Errorf("append seq %d-%d: disk full (%v), stopped waiting: %w", first, last, cause, err)
	}
	if d.delay < time.Second {
		d.delay *= 2
	}
	return nil
}

// done logs the end of a wait, if there was one.
func (d *diskFull) done(w *Writer) {
	if !d.since.IsZero() {
		w.log.WithFields(logrus.Fields{"dir": w.dir, "waited": time.Since(d.since).Round(time.Millisecond).String()}).
			Info("spool disk has room again: appending")
	}
}

// removeApplied removes sealed segments that the applier has passed (as
// its last Remove recorded: see appliedFrom), oldest first, ahead of their
// retention; the newest sealed segment stays, for the writer's position.
func (w *Writer) removeApplied() (int, error) {
	keepFrom, ok := appliedFrom(w.dir)
	if !ok {
		return 0, nil
	}
	l, err := List(w.dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, s := range l.Sealed {
		if i == len(l.Sealed)-1 || s.Last >= keepFrom {
			break
		}
		if err := os.Remove(s.Path); err != nil && !os.IsNotExist(err) {
			return n, fmt.Errorf("remove applied spool segment %s: %w", s.Name(), err)
		}
		n++
		w.sealedBytes -= s.Size
		w.log.WithFields(logrus.Fields{"segment": s.Name(), "first_seq": s.First, "last_seq": s.Last, "bytes": s.Size, "applied_before": keepFrom}).
			Warn("spool disk is full: removed an applied segment before its retention ended")
	}
	if n > 0 {
		if err := syncDir(w.dir); err != nil {
			return n, err
		}
	}
	return n, nil
}
