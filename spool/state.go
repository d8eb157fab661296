package spool

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const (
	stateName = "writer.json"
	endedName = "ENDED"
)

// WriterState is what a running writer publishes about its open segment,
// which no other process can open while the writer holds it. It is advisory:
// it is written without fsync after every append.
type WriterState struct {
	PID       int       `json:"pid"`
	Segment   string    `json:"segment,omitempty"`
	FirstSeq  uint64    `json:"first_seq,omitempty"`
	LastSeq   uint64    `json:"last_seq,omitempty"`
	Entries   uint64    `json:"entries"`
	LastTS    uint64    `json:"last_ts,omitempty"` // T<<32 | I
	UpdatedAt time.Time `json:"updated_at"`
}

func writeState(dir string, st WriterState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateName+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateName))
}

// ReadWriterState returns the running writer's published state, if any.
func ReadWriterState(dir string) (WriterState, bool) {
	b, err := os.ReadFile(filepath.Join(dir, stateName))
	if err != nil {
		return WriterState{}, false
	}
	var st WriterState
	if json.Unmarshal(b, &st) != nil {
		return WriterState{}, false
	}
	return st, true
}

// Ended reports whether the writer marked the spool as ended (a file source
// was spooled whole) and the last seq it wrote.
func Ended(dir string) (last uint64, ended bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, endedName))
	if os.IsNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	last, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, &CorruptError{File: filepath.Join(dir, endedName), Reason: "not a sequence number"}
	}
	return last, true, nil
}

const startName = "START"

// SetStart records where the reader must start while the spool is empty:
// the position the initial copy pinned (T0). It is written once, durably.
func SetStart(dir string, ts bson.Timestamp) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, startName)
	if err := os.WriteFile(p, []byte(fmt.Sprintf("%d,%d\n", ts.T, ts.I)), 0o600); err != nil {
		return err
	}
	return syncDir(dir)
}

// Start returns the recorded start position, if any.
func Start(dir string) (bson.Timestamp, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, startName))
	if os.IsNotExist(err) {
		return bson.Timestamp{}, false, nil
	}
	if err != nil {
		return bson.Timestamp{}, false, err
	}
	var t, i uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d,%d", &t, &i); err != nil {
		return bson.Timestamp{}, false, &CorruptError{File: filepath.Join(dir, startName), Reason: "not a T,I timestamp"}
	}
	return bson.Timestamp{T: t, I: i}, true, nil
}
