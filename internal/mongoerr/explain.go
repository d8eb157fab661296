package mongoerr

import (
	"errors"
	"fmt"
)

// ErrNoMajorityReads means the source refuses read concern majority: a
// MongoDB 4.4 or older replica set started with
// replication.enableMajorityReadConcern: false (--enableMajorityReadConcern
// false), the setting the 4.4 manual documents for primary-secondary-arbiter
// sets ("Disable Read Concern Majority", reference/read-concern-majority).
// mongod answers every majority read ReadConcernMajorityNotEnabled (148).
// mongo-sync reads only majority-committed data, so that a rollback on the
// source never reaches the destination (DESIGN.md, invariant 3), and has no
// mode without it.
var ErrNoMajorityReads = errors.New("the source refuses read concern majority: it runs with " +
	"replication.enableMajorityReadConcern: false (--enableMajorityReadConcern false, MongoDB 4.4 and " +
	"older), and mongo-sync reads only majority-committed data; restart the source's members with " +
	"enableMajorityReadConcern: true (the default) or upgrade it to 5.0+, where it is always on")

// Explain returns err with what the user must do when err is one that no
// retry cures (Permanent): errors.Is(err, ErrNoMajorityReads) then holds,
// and the server's error is still wrapped. Any other err (nil too) comes
// back as it is.
func Explain(err error) error {
	if err == nil || !Permanent(err) || errors.Is(err, ErrNoMajorityReads) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoMajorityReads, err)
}

// PrivilegeError is a command the server refused because the user lacks a
// privilege (Unauthorized, 13).
type PrivilegeError struct {
	Command string // the command refused, "listDatabases"
	Need    string // the privilege it needs, and a role that grants it
	Err     error  // the server's error
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("%s refused: the user lacks a privilege: it needs %s (%v)", e.Command, e.Need, e.Err)
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// NeedPrivilege returns err as a *PrivilegeError naming command and need
// when the server refused it as Unauthorized (13); any other err as it is.
func NeedPrivilege(err error, command, need string) error {
	if !Has(err, Unauthorized) {
		return err
	}
	return &PrivilegeError{Command: command, Need: need, Err: err}
}
