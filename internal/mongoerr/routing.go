package mongoerr

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ShardKeyNotFound (61, error_codes.yml) is what a mongos answers for an
// upsert or a single-document write whose query lacks the shard key of a
// sharded collection (before 7.1: "Failed to target upsert by query ::
// could not extract exact shard key").
const ShardKeyNotFound = 61

// routing lists the errors a mongos returns, after its own retries, while
// its routing table is moving: a chunk migration, movePrimary, a
// resharding or a DDL coordinator on the destination cluster. Each is
// checked against src/mongo/base/error_codes.yml (mongodb/mongo): a later
// attempt of the same write, once the move is over, may pass.
var routing = map[int]string{
	46:    "LockBusy",                       // a DDL lock held by a coordinator
	70:    "ShardNotFound",                  // a shard removed while a routing table names it
	82:    "NoProgressMade",                 // mongos gave up retargeting a stale write
	117:   "ConflictingOperationInProgress", // a DDL or migration on the same namespace
	150:   "StaleEpoch",                     // StaleShardVersionError, NeedRetargettingError
	249:   "StaleDbVersion",                 // a database's primary moved (movePrimary)
	13388: "StaleConfig",                    // StaleShardVersionError, NeedRetargettingError
}

// Routing reports a mongos routing error (see routing) in err: a command
// error, or one of a write command's write errors. It returns the code
// and its name.
func Routing(err error) (int, string, bool) {
	var se mongo.ServerError
	if err == nil || !errors.As(err, &se) {
		return 0, "", false
	}
	for code, name := range routing {
		if se.HasErrorCode(code) {
			return code, name, true
		}
	}
	return 0, "", false
}
