package copier

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A collMod on the source after a copy began (the manual's collMod,
// "Change Index Properties") leaves a restarted copy's destination with
// the index under its old options, and createIndexes answers
// IndexOptionsConflict (85). Of the options collMod changes, these are
// settled by the same collMod on the destination: a TTL index's
// expireAfterSeconds, hidden (4.4) and prepareUnique (6.0). Its fourth,
// unique, stays a difference: the conversion needs prepareUnique first and
// fails over duplicates, and a non-unique index of a unique source index's
// name is either this copy's stand-in for a deferred build, which
// indexConflict knows, or a difference the operator must see.

// collModChanges is what collMod must set on dst, the destination's index
// of the source index src's name, to give it src's options: each of
// expireAfterSeconds, hidden and prepareUnique that differs, with src's
// value, in src's order. ok is false when the keys differ, when any other
// option differs, when none does, or when only one side has
// expireAfterSeconds (collMod changes a TTL index's; making or unmaking
// one is not a change collMod makes on every version).
func collModChanges(src, dst bson.D) (changes bson.D, ok bool) {
	if !sameValue(lookupD(src, "key"), lookupD(dst, "key")) {
		return nil, false
	}
	for _, k := range optionNames(src, dst) {
		a, b := lookupD(src, k), lookupD(dst, k)
		if sameValue(a, b) {
			continue
		}
		switch k {
		case "hidden", "prepareUnique":
			changes = append(changes, bson.E{Key: k, Value: truthy(a)}) // absent is false
		case "expireAfterSeconds":
			if a == nil || b == nil {
				return nil, false
			}
			changes = append(changes, bson.E{Key: k, Value: a})
		default:
			return nil, false
		}
	}
	return changes, len(changes) > 0
}

// optionNames are the option names of a and b, a's first, each once,
// without the name, the key and the fields a server sets itself.
func optionNames(a, b bson.D) []string {
	var names []string
	seen := map[string]bool{"name": true, "key": true, "v": true, "ns": true, "background": true}
	for _, d := range []bson.D{a, b} {
		for _, e := range d {
			if !seen[e.Key] {
				seen[e.Key] = true
				names = append(names, e.Key)
			}
		}
	}
	return names
}

// collModIndex gives the destination's index dst the source's options
// changes (see collModChanges), one collMod each, and logs what changed.
// A server refusing one (not for a moment: see retry.Retryable) leaves
// the difference reported as before, ErrIndexConflict naming both specs;
// any other error is returned as it is.
func (c *Copier) collModIndex(ctx context.Context, coll *collection, spec, dst, changes bson.D, cause error) error {
	name := specName(spec)
	for _, ch := range changes {
		index := bson.D{{Key: "name", Value: name}, ch}
		err := c.Dst.Database(coll.dstDB).RunCommand(ctx, bson.D{{Key: "collMod", Value: coll.dstColl}, {Key: "index", Value: index}}).Err()
		var se mongo.ServerError
		if errors.As(err, &se) && !retry.Retryable(err) {
			return fmt.Errorf("index %s of %s: the source's is %s, the destination %s holds %s, and collMod %s was refused (%v): %w (%w)",
				name, coll.srcNS, relaxed(spec), coll.dstNS, relaxed(dst), relaxed(index), err, ErrIndexConflict, cause)
		}
		if err != nil {
			return fmt.Errorf("index %s on %s: collMod %s: %w", name, coll.dstNS, relaxed(index), err)
		}
		c.Log.WithFields(logrus.Fields{"ns": coll.dstNS, "index": name, "option": ch.Key,
			"from": relaxedOption(lookupD(dst, ch.Key)), "to": relaxedOption(ch.Value)}).
			Warn("the destination's index had an option the source changed (collMod): brought to the source's with collMod")
	}
	return nil
}

// relaxedOption is an option's value as relaxed Extended JSON, "absent"
// for none.
func relaxedOption(v any) string {
	if v == nil {
		return "absent"
	}
	s := relaxed(bson.D{{Key: "v", Value: v}})
	if t, ok := strings.CutPrefix(s, `{"v":`); ok {
		return strings.TrimSuffix(t, "}")
	}
	return s
}
