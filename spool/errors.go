package spool

import (
	"errors"
	"fmt"
)

// ErrBusy means another process holds the spool's writer lock.
var ErrBusy = errors.New("spool is in use by another writer")

// ErrGone means a requested sequence number was already removed from the spool.
var ErrGone = errors.New("sequence number no longer in the spool")

// CorruptError names a damaged segment: its file, its sequence range and, when
// known, the sequence number where the damage was found.
type CorruptError struct {
	File        string
	First, Last uint64
	Seq         uint64 // 0 when the damage is not at one entry
	Reason      string
}

func (e *CorruptError) Error() string {
	if e.Seq != 0 {
		return fmt.Sprintf("spool segment %s (seq %d-%d) is damaged at seq %d: %s", e.File, e.First, e.Last, e.Seq, e.Reason)
	}
	return fmt.Sprintf("spool segment %s (seq %d-%d) is damaged: %s", e.File, e.First, e.Last, e.Reason)
}

// GapError reports sequence numbers that no segment holds although later ones
// exist: a segment is missing from the middle of the spool.
type GapError struct {
	From, To      uint64 // the missing range, inclusive
	Before, After string // the files around the gap
}

func (e *GapError) Error() string {
	return fmt.Sprintf("spool is missing seq %d-%d (a segment between %s and %s was removed or lost)", e.From, e.To, e.Before, e.After)
}

// SourceError means the spool belongs to another source.
type SourceError struct {
	File       string
	Have, Want string
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("spool segment %s belongs to source %q, not to %q: use another spool directory", e.File, e.Have, e.Want)
}
