package update

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// After is the document the update statement u leaves when applied to cur
// under oplog-application rules (Re-application, applier/exec/reapply.go): an
// update of a missing document (cur nil) applies to {_id: id}; u is a
// modifier update, or the $set/$unset form of a $v:2 diff (DiffToUpdate)
// when fromDiff, which follows mongod's diff rules instead. nonViable
// counts the paths skipped.
func After(cur bson.Raw, id bson.RawValue, u bson.Raw, fromDiff bool) (doc bson.D, nonViable int, err error) {
	base := bson.D{{Key: "_id", Value: id}}
	if cur != nil {
		if base, err = Decode(cur); err != nil {
			return nil, 0, err
		}
	}
	if fromDiff {
		return ApplyDiffPaths(base, u)
	}
	return ApplyModifiers(base, u)
}

// Decode is raw as a bson.D, the form the rules here work on.
func Decode(raw bson.Raw) (bson.D, error) {
	var d bson.D
	err := bson.Unmarshal(raw, &d)
	return d, err
}
