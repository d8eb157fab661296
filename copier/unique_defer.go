package copier

import (
	"context"
	"fmt"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/store"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// isDupKey reports a unique-index violation (see mongoerr.DuplicateKey).
func isDupKey(err error) bool { return mongoerr.DuplicateKey(err) }

// deferUniqueIndexes handles a unique index build that met duplicates. The
// copy reads documents at different times, so it can hold a key twice that
// the source never held twice at once (one document copied before it gave
// the key up, another after it took it); the catch-up window's entries
// remove the duplicate. The indexes are built non-unique now, and each
// unique build is recorded for the applier, which makes it unique once it
// has passed the copy's end (or stops naming the index if duplicates stay).
func (c *Copier) deferUniqueIndexes(ctx context.Context, coll *collection, specs bson.A, cause error) error {
	plain := bson.A{}
	for _, s := range specs {
		spec, ok := s.(bson.D)
		if !ok {
			return cause
		}
		spec = coll.forCreate(spec)
		unique, name := false, ""
		for _, e := range spec {
			switch e.Key {
			case "unique":
				unique = truthy(e.Value)
			case "name":
				name = fmt.Sprint(e.Value)
			}
		}
		if !unique {
			plain = append(plain, spec)
			continue
		}
		cmd, err := bson.Marshal(bson.D{{Key: "createIndexes", Value: coll.dstColl}, {Key: "indexes", Value: bson.A{spec}}})
		if err != nil {
			return err
		}
		if err := c.Store.PutDeferred(store.Deferred{Kind: "index", NS: coll.dstNS, DB: coll.dstDB, Cmd: cmd, Index: name}); err != nil {
			return fmt.Errorf("record the deferred unique index %s on %s: %w", name, coll.dstNS, err)
		}
		var without bson.D
		for _, e := range spec {
			if e.Key != "unique" {
				without = append(without, e)
			}
		}
		plain = append(plain, without)
		c.Log.WithFields(logrus.Fields{"ns": coll.dstNS, "index": name}).
			Warn("unique index met duplicate keys the copy read at different times: built non-unique until the applier passes the copy's end")
	}
	return c.Dst.Database(coll.dstDB).RunCommand(ctx, bson.D{{Key: "createIndexes", Value: coll.dstColl}, {Key: "indexes", Value: plain}}).Err()
}

// truthy reads an index spec's boolean option as the server does: a
// bool, or a number other than 0.
func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case int32:
		return b != 0
	case int64:
		return b != 0
	case float64:
		return b != 0
	}
	return false
}
