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
// message together.
func DuplicateKey(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 1 && strings.Contains(ce.Message, "UNIQUE constraint failed")
}
