package spool

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// SegmentStat describes one segment for `spool stat`.
type SegmentStat struct {
	Segment
	Meta
	Err error // the segment is damaged; Meta may be partial
}

// Stat describes a whole spool.
type Stat struct {
	Dir           string
	Segments      []SegmentStat // sealed, in seq order
	Gaps          []GapError
	WriterRunning bool
	Writer        *WriterState // the open segment, as its writer publishes it
	Ended         bool
	EndSeq        uint64
	Bytes         int64
	Entries       uint64 // in healthy sealed segments
	Damaged       int
	OldestTS      bson.Timestamp
	NewestTS      bson.Timestamp // the open segment's counts
	// OpenErr: the open segment a stopped writer left could not be read
	// (its entries are then not counted in NewestTS).
	OpenErr error
}

// ReadStat opens every sealed segment read-only and reads its meta. Damaged
// segments are reported in their SegmentStat, not as an error: the healthy
// ones are still described.
func ReadStat(dir string) (Stat, error) {
	l, err := List(dir)
	if err != nil {
		return Stat{}, err
	}
	st := Stat{Dir: dir, Gaps: l.Gaps, WriterRunning: WriterRunning(dir)}
	for _, s := range l.Sealed {
		m, err := ReadMeta(s)
		ss := SegmentStat{Segment: s, Meta: m, Err: err}
		st.Bytes += s.Size
		if err != nil {
			st.Damaged++
		} else {
			st.Entries += m.Entries
			if st.OldestTS.IsZero() {
				st.OldestTS = m.FirstTS
			}
			st.NewestTS = m.LastTS
		}
		st.Segments = append(st.Segments, ss)
	}
	if l.Open != nil {
		st.Bytes += l.Open.Size
		if ws, ok := ReadWriterState(dir); ok && st.WriterRunning {
			st.Writer = &ws
			if ws.LastTS != 0 {
				st.NewestTS = bson.Timestamp{T: uint32(ws.LastTS >> 32), I: uint32(ws.LastTS)}
			}
		} else {
			st.Writer = &WriterState{Segment: l.Open.Name(), FirstSeq: l.Open.First}
			if !st.WriterRunning { // running, it has not published yet: its file is locked
				st.readStopped(dir, *l.Open)
			}
		}
	}
	st.EndSeq, st.Ended, err = Ended(dir)
	return st, err
}

// readStopped reads the open segment a stopped writer left (a killed
// sync's: committed entries, never sealed; its applier may have applied
// them): its entries count in Writer and NewestTS. Its meta alone is read,
// not every page: a writer starting meanwhile waits for the file's lock
// (1 s at most, leftover.go). One that never committed a transaction and
// that a writer would set aside holds none; one a writer would refuse is
// OpenErr, as is a file that cannot be read, unless a writer started
// meanwhile (it locked the file, or sealed it away).
func (st *Stat) readStopped(dir string, open Segment) {
	m, err := readMetaFile(open, false)
	if err != nil {
		h, herr := readLeftoverHeader(open.Path)
		if herr == nil && h.committed == 0 {
			reason, torn := h.torn()
			if torn || reason == "" {
				return // created, nothing appended
			}
			err = fmt.Errorf("%s: %s", open.Path, reason)
		}
		if _, serr := os.Stat(open.Path); WriterRunning(dir) || os.IsNotExist(serr) {
			return // a writer started while this read
		}
		st.OpenErr = err
		return
	}
	st.Writer.LastSeq, st.Writer.Entries = m.Last, m.Entries
	st.Writer.LastTS = uint64(m.LastTS.T)<<32 | uint64(m.LastTS.I)
	if st.OldestTS.IsZero() {
		st.OldestTS = m.FirstTS
	}
	if st.NewestTS.Before(m.LastTS) {
		st.NewestTS = m.LastTS
	}
}

// Age is how long ago ts was, in whole seconds.
func Age(ts bson.Timestamp, now time.Time) time.Duration {
	if ts.IsZero() {
		return 0
	}
	return now.Sub(time.Unix(int64(ts.T), 0)).Truncate(time.Second)
}

// IsDamage reports whether err names damage in the spool (a corrupt segment
// or a missing one).
func IsDamage(err error) bool {
	var c *CorruptError
	var g *GapError
	return errors.As(err, &c) || errors.As(err, &g)
}
