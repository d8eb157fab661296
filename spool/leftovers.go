package spool

import (
	"fmt"

	"github.com/sirupsen/logrus"
)

// sealLeftovers seals the open segments a previous writer left, oldest
// first. A crash leaves one. More than one was left by a writer whose seal
// failed after it closed a segment (a full disk refused the rename) and
// that then opened the next one: this writer never does (unsealed.go), an
// older one did. Such a file is a whole bbolt file and may be sealed like
// any other, provided the segments together still hold one run of seqs:
// every one is read before any is touched, and the start is refused,
// naming the files, when sealing them would leave seqs missing between
// them, or the same seqs in two files, or when one of them cannot be read
// (then nothing is changed).
func (w *Writer) sealLeftovers(sealed, opens []Segment) error {
	if len(opens) == 1 {
		return w.sealLeftover(opens[0])
	}
	plans := make([]leftoverPlan, len(opens))
	for i, seg := range opens {
		p, err := w.inspectLeftover(seg)
		if err != nil {
			return fmt.Errorf("spool %s has %d open segments (%s); none was changed: %w", w.dir, len(opens), segNames(opens), err)
		}
		plans[i] = p
	}
	if err := leftoversInOrder(sealed, plans); err != nil {
		return fmt.Errorf("spool %s has %d open segments (%s); none was changed: %w", w.dir, len(opens), segNames(opens), err)
	}
	w.log.WithFields(logrus.Fields{"dir": w.dir, "segments": segNames(opens)}).
		Warn("found more than one open segment (a seal had failed): their entries follow each other, sealing them oldest first")
	for _, p := range plans {
		if err := w.applyLeftover(p); err != nil {
			return err
		}
	}
	return nil
}

// leftoversInOrder checks that the leftover open segments that hold
// entries each begin right after the segment before them (the newest sealed
// one, or the previous open one).
func leftoversInOrder(sealed []Segment, plans []leftoverPlan) error {
	var prev Segment
	if n := len(sealed); n > 0 {
		prev = sealed[n-1]
	}
	for _, p := range plans {
		if !p.holds() {
			continue // holds no entry: nothing of it is kept, nothing lost
		}
		m := p.meta
		switch {
		case prev.Path != "" && m.First <= prev.Last:
			return fmt.Errorf("%s holds seq %d-%d, and %s holds seq %d-%d: the same seqs in two files", prev.Name(), prev.First, prev.Last, p.seg.Name(), m.First, m.Last)
		case prev.Path != "" && m.First != prev.Last+1:
			return fmt.Errorf("%s holds seq %d-%d, and %s holds seq %d-%d: seq %d-%d are in neither", prev.Name(), prev.First, prev.Last, p.seg.Name(), m.First, m.Last, prev.Last+1, m.First-1)
		}
		prev = Segment{Path: p.seg.Path, First: m.First, Last: m.Last}
	}
	return nil
}
