package oplog

import (
	"fmt"
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestFormatTS_AsPrintf(t *testing.T) {
	for _, ts := range []bson.Timestamp{{}, {T: 1700000000, I: 7}, {T: math.MaxUint32, I: math.MaxUint32}} {
		if got, want := FormatTS(ts), fmt.Sprintf("%d,%d", ts.T, ts.I); got != want {
			t.Errorf("FormatTS(%v) = %q, want %q", ts, got, want)
		}
	}
}
