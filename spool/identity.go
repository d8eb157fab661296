package spool

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const identityName = "SPOOL.json"

// Identity is what a spool belongs to (DESIGN.md, invariant 9): an id of
// its own, written once when the spool is bound, that the state file of the
// applier draining it records; the identity of the source it holds; and the
// seq its numbering starts at when it was recreated for a state file whose
// checkpoint had already passed 1.
type Identity struct {
	ID     string `json:"id"`
	Source string `json:"source,omitempty"`
	// StateID is the state file the spool was created for (refilled for).
	StateID  string    `json:"state_id,omitempty"`
	FirstSeq uint64    `json:"first_seq,omitempty"`
	Created  time.Time `json:"created"`
}

// NewID returns a random id for a spool, a state file or a deployment.
func NewID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on the systems Go supports
	}
	return hex.EncodeToString(b[:])
}

// ReadIdentity returns the spool's recorded identity; false when it has
// none (a new spool, or one written before identities were recorded).
func ReadIdentity(dir string) (Identity, bool, error) {
	p := filepath.Join(dir, identityName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, fmt.Errorf("spool identity: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil || id.ID == "" {
		return Identity{}, false, &CorruptError{File: p, Reason: "not a spool identity (want JSON with an id)"}
	}
	return id, true, nil
}

// WriteIdentity records id durably, creating dir if needed.
func WriteIdentity(dir string, id Identity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create spool directory: %w", err)
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, identityName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool identity: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("spool identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("spool identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spool identity: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, identityName)); err != nil {
		return fmt.Errorf("spool identity: %w", err)
	}
	return syncDir(dir)
}

// Empty reports a spool that holds nothing: no segment, no pinned start.
func Empty(dir string) (bool, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	l, err := List(dir)
	if err != nil {
		return false, err
	}
	if l.Open != nil || len(l.Sealed) > 0 {
		return false, nil
	}
	_, started, err := Start(dir)
	return !started, err
}

// SameSource reports whether a spool written for source have may go on for
// source want. Identities are equal, or have is the weaker form a spool
// written before replica set ids were recorded carries ("rs:NAME" for
// "rs:NAME/ID").
func SameSource(have, want string) bool {
	return have == want || strings.HasPrefix(have, "rs:") && !strings.Contains(have, "/") && strings.HasPrefix(want, have+"/")
}
