package spool

import (
	"encoding/binary"
	"hash/crc32"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MaxEntryBytes is the largest entry the spool takes: MongoDB's 16 MB
// document limit plus room for the oplog entry's own fields.
const MaxEntryBytes = 16*1024*1024 + 16*1024

// FormatVersion is the on-disk format of a segment. A segment written with
// another version is refused.
const FormatVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is one spooled oplog entry.
type Entry struct {
	Seq uint64
	TS  bson.Timestamp
	Raw bson.Raw // the oplog entry exactly as read from the source
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func keySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// entryLen is how many bytes encodeEntry writes for raw.
func entryLen(raw []byte) int { return 8 + 4 + len(raw) }

// encodeEntry writes the stored form of an entry at the start of buf, which
// has room for entryLen(raw) bytes: its key (seq, big-endian), then its
// value (checksum + raw). It returns the two, capped so that an append to
// either cannot run into what follows in buf.
func encodeEntry(buf []byte, seq uint64, raw []byte) (key, value []byte) {
	n := entryLen(raw)
	buf = buf[:n:n]
	binary.BigEndian.PutUint64(buf, seq)
	binary.BigEndian.PutUint32(buf[8:], crc32.Checksum(raw, castagnoli))
	copy(buf[12:], raw)
	return buf[:8:8], buf[8:]
}

// checkValue checks the checksum of a stored value and returns its entry,
// in v's memory. The BSON was validated by Append; a matching checksum
// proves it is those bytes.
func checkValue(v []byte) (bson.Raw, string) {
	if len(v) < 4+5 {
		return nil, "value too short"
	}
	raw := v[4:]
	if crc32.Checksum(raw, castagnoli) != binary.BigEndian.Uint32(v) {
		return nil, "checksum mismatch"
	}
	return raw, ""
}

// entryTS returns the oplog entry's ts field (the first element named ts,
// as bson.Raw.LookupErr finds it).
func entryTS(raw bson.Raw) (bson.Timestamp, bool) {
	// The source writes ts first: read it in place, without LookupErr's walk
	// (and its allocation), when the first element is a timestamp named ts.
	if len(raw) >= 4+4+8+1 && raw[4] == byte(bson.TypeTimestamp) && raw[5] == 't' && raw[6] == 's' && raw[7] == 0 {
		return bson.Timestamp{T: binary.LittleEndian.Uint32(raw[12:]), I: binary.LittleEndian.Uint32(raw[8:])}, true
	}
	v, err := raw.LookupErr("ts")
	if err != nil {
		return bson.Timestamp{}, false
	}
	t, i, ok := v.TimestampOK()
	return bson.Timestamp{T: t, I: i}, ok
}
