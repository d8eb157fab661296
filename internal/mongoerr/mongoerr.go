// Package mongoerr classifies server errors the sync stages treat alike.
package mongoerr

import (
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// DuplicateKey reports a unique-index violation: E11000 as MongoDB reports
// it, or the InternalError "UNIQUE constraint failed" the test server
// (FerretDB) returns for a violation inside an update or an index build.
// That one carries no code of its own, so it is recognised by its code and
// message together. MongoDB's is DuplicateKey (11000) in mongodb/mongo
// src/mongo/base/error_codes.yml; the driver's IsDuplicateKeyError also
// takes 11001, 12582 and 16460 with "E11000", codes of older servers that
// today's error_codes.yml no longer lists.
func DuplicateKey(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == InternalError && strings.Contains(ce.Message, "UNIQUE constraint failed")
}
