package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// appliedName records, for the writer, the seq before which every entry was
// applied: at a full disk it removes the segments wholly before it, which
// retention would otherwise keep (see Writer.removeApplied).
const appliedName = "APPLIED"

// Remove deletes the sealed segments whose entries all precede keepFrom and
// that were sealed more than retention ago. The newest sealed segment is
// always kept: the writer finds its position in it. Segments it keeps for
// retention although they were applied are recorded (appliedName), so a
// writer that finds the disk full may remove them.
func Remove(dir string, keepFrom uint64, retention time.Duration) ([]Segment, error) {
	l, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []Segment
	now := time.Now()
	var retained uint64 // the end (exclusive) of the applied segments kept for retention
	for i, s := range l.Sealed {
		if i == len(l.Sealed)-1 || s.Last >= keepFrom {
			break
		}
		if retention > 0 && now.Sub(s.MTime) < retention {
			retained = s.Last + 1
			continue
		}
		if retained > 0 {
			break // removal goes oldest first: a newer one waits for the older
		}
		if err := os.Remove(s.Path); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("remove spool segment %s: %w", s.Name(), err)
		}
		removed = append(removed, s)
	}
	if len(removed) > 0 {
		if err := syncDir(dir); err != nil {
			return removed, err
		}
	}
	if retained > 0 {
		if recorded, _ := appliedFrom(dir); retained > recorded {
			// Advisory, written without fsync, and not written when the
			// disk is full: an older record stands, which removes less.
			_ = writeApplied(dir, retained, false)
		}
	}
	return removed, nil
}

// SetApplied records that the entries before keepFrom were applied, lower
// than before or not, durably: a rewind calls it before moving the
// checkpoint back, so that a writer short of disk space never removes a
// segment the replay needs.
func SetApplied(dir string, keepFrom uint64) error {
	return writeApplied(dir, keepFrom, true)
}

func writeApplied(dir string, keepFrom uint64, durable bool) error {
	p := filepath.Join(dir, appliedName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(keepFrom, 10)+"\n"), 0o600); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("record applied seq in %s: %w", p, err)
	}
	if durable {
		if err := syncFile(tmp); err != nil {
			return fmt.Errorf("record applied seq in %s: %w", p, err)
		}
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("record applied seq in %s: %w", p, err)
	}
	if durable {
		return syncDir(dir)
	}
	return nil
}

// appliedFrom reads the record Remove and SetApplied keep: every entry
// before the seq it returns was applied.
func appliedFrom(dir string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, appliedName))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n > 0
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
