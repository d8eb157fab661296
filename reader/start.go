package reader

import (
	"encoding/binary"
	"fmt"
	"os"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ReadOptimeFile reads py-mongo-sync's optime log: 8 bytes, the timestamp's
// seconds and increment as little-endian uint32s. An empty or missing file
// gives a zero timestamp.
func ReadOptimeFile(path string) (bson.Timestamp, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) || (err == nil && len(b) == 0) {
		return bson.Timestamp{}, nil
	}
	if err != nil {
		return bson.Timestamp{}, fmt.Errorf("optime logfile: %w", err)
	}
	if len(b) != 8 {
		return bson.Timestamp{}, fmt.Errorf("optime logfile %s: %d bytes, want 8 (py-mongo-sync format)", path, len(b))
	}
	return bson.Timestamp{T: binary.LittleEndian.Uint32(b), I: binary.LittleEndian.Uint32(b[4:])}, nil
}

// WriteOptimeFile writes ts in py-mongo-sync's optime log format.
func WriteOptimeFile(path string, ts bson.Timestamp) error {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], ts.T)
	binary.LittleEndian.PutUint32(b[4:], ts.I)
	return os.WriteFile(path, b[:], 0o600)
}
