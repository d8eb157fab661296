package reader

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// markerMsg identifies position markers in the spool.
const markerMsg = "mongo-sync position marker"

// Marker is a no-op entry that records the reader's position when the
// entries it read were all skipped (other namespaces, no-ops): it carries
// the ts and term of such a real entry, so the resume check (ts and term)
// holds against the source, and the applier's position moves on (lag,
// consistency after the initial copy) while nothing synced is written.
func Marker(skipped bson.Raw) (bson.Raw, error) {
	d := bson.D{{Key: "ts", Value: skipped.Lookup("ts")}}
	if t, err := skipped.LookupErr("t"); err == nil {
		d = append(d, bson.E{Key: "t", Value: t})
	}
	d = append(d, bson.E{Key: "op", Value: "n"}, bson.E{Key: "ns", Value: ""},
		bson.E{Key: "o", Value: bson.D{{Key: "msg", Value: markerMsg}}},
		bson.E{Key: "wall", Value: bson.NewDateTimeFromTime(time.Now())})
	return bson.Marshal(d)
}

// IsMarker reports whether raw is a position marker.
func IsMarker(raw bson.Raw) bool {
	msg, _ := raw.Lookup("o", "msg").StringValueOK()
	op, _ := raw.Lookup("op").StringValueOK()
	return op == "n" && msg == markerMsg
}
