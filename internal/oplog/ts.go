// Package oplog reads oplog entries as raw BSON: the pieces the reader's
// filter, the cross-shard gate and the applier each need, written once.
package oplog

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FormatTS is ts as "T,I", the form of log lines, errors and --replay-from.
func FormatTS(ts bson.Timestamp) string { return fmt.Sprintf("%d,%d", ts.T, ts.I) }
