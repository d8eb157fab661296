package spool

import (
	"fmt"
	"os"
	"time"
)

// Remove deletes the sealed segments whose entries all precede keepFrom and
// that were sealed more than retention ago. The newest sealed segment is
// always kept: the writer finds its position in it.
func Remove(dir string, keepFrom uint64, retention time.Duration) ([]Segment, error) {
	l, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []Segment
	now := time.Now()
	for i, s := range l.Sealed {
		if i == len(l.Sealed)-1 || s.Last >= keepFrom {
			break
		}
		if retention > 0 && now.Sub(s.MTime) < retention {
			break
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
	return removed, nil
}
