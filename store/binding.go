package store

import (
	"encoding/json"
	"fmt"
	"time"
)

var keyBinding = []byte("binding")

// Binding is what a state file belongs to (DESIGN.md, invariant 9): its own
// id, the spool it drains, the source and destination deployments by their
// identities (with the names they were reached by, passwords redacted, for
// messages), and the selection it has synced.
type Binding struct {
	StateID    string `json:"state_id"`
	SpoolID    string `json:"spool_id,omitempty"`
	Source     string `json:"source,omitempty"`
	SourceName string `json:"source_name,omitempty"`
	Dest       string `json:"dest,omitempty"`
	DestName   string `json:"dest_name,omitempty"`
	Selection  string `json:"selection,omitempty"`
	// AddingFrom is the selection before namespaces were added to it, while
	// their copy is not done (the sync copies them online, then clears it):
	// a restart copies what Selection selects and AddingFrom does not.
	AddingFrom string    `json:"adding_from,omitempty"`
	Recorded   time.Time `json:"recorded"`
}

// Binding returns the recorded binding; false when none was recorded (a
// new state file, or one written before bindings were).
func (s *Store) Binding() (Binding, bool, error) {
	var b Binding
	raw := s.get(keyBinding)
	if raw == nil {
		return b, false, nil
	}
	if err := json.Unmarshal(raw, &b); err != nil || b.StateID == "" {
		return b, false, fmt.Errorf("state file %s: the recorded binding is damaged (%q)", s.db.Path(), raw)
	}
	return b, true, nil
}

// SetBinding durably records b.
func (s *Store) SetBinding(b Binding) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return s.put(keyBinding, raw)
}

// Fresh reports a state file on which nothing has been recorded yet: no
// stage, no checkpoint.
func (s *Store) Fresh() (bool, error) {
	if s.Stage() != StageNone {
		return false, nil
	}
	c, err := s.Checkpoint()
	return c.Seq == 0, err
}
