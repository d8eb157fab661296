package spool

import (
	"fmt"
	"sort"

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

// leftoversInOrder checks that the sealed segments and the leftover open
// segments that hold entries, in seq order, hold one run of seqs: no gap,
// no seq in two files. An open segment may lie below a sealed one: an
// older writer left a segment whose seal had failed, sealed the next one,
// and crashed with a third open.
func leftoversInOrder(sealed []Segment, plans []leftoverPlan) error {
	all := append([]Segment(nil), sealed...)
	for _, p := range plans {
		if p.holds() { // one that holds no entry: nothing of it is kept, nothing lost
			all = append(all, Segment{Path: p.seg.Path, First: p.meta.First, Last: p.meta.Last, Open: true})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].First < all[j].First })
	for i := 1; i < len(all); i++ {
		prev, cur := all[i-1], all[i]
		switch {
		case cur.First <= prev.Last:
			return fmt.Errorf("%s holds seq %d-%d, and %s holds seq %d-%d: the same seqs in two files", prev.Name(), prev.First, prev.Last, cur.Name(), cur.First, cur.Last)
		case cur.First != prev.Last+1:
			return fmt.Errorf("%s holds seq %d-%d, and %s holds seq %d-%d: seq %d-%d are in neither", prev.Name(), prev.First, prev.Last, cur.Name(), cur.First, cur.Last, prev.Last+1, cur.First-1)
		}
	}
	return nil
}
