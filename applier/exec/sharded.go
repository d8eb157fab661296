package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mongo-sync/mongo-sync/internal/mongoerr"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/mongo-sync/mongo-sync/internal/wirecmd"
	"github.com/mongo-sync/mongo-sync/sharding"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Statements towards a mongos, for a collection sharded on more than _id.
// mongos routes a statement by the shard key in its query: an upsert must
// name the whole key (before 7.1: ShardKeyNotFound), and an update that
// changes a document's key must run as a retryable write or in a
// transaction, with the old key in its query ("Change a Document's Shard
// Key Value" in MongoDB's manual). The applier knows a document's new key
// from the document it writes, and its old key only where a sharded source
// logged it (o2 of an update, o of a delete). So:
//
//   - deletes go by {_id} plus the logged key when there is one (limit 1:
//     mongos accepts an exact _id);
//   - inserts go as inserts (mongos routes them by their document), except
//     inside a replay window: there the document may already exist under
//     another key on another shard, where no duplicate-key error would
//     reveal it, so they go as replacements;
//   - replacements go by {_id, key from the document}, modifier updates by
//     {_id} (plus the logged key), and neither upserts: a statement that
//     finds nothing never creates a second document under another key.
//     The reply's n counts the statements that matched; when it falls
//     short (a missing document, a key that changed), the run goes again
//     by the careful path;
//   - a modifier update that writes a key path, and a diff that needs the
//     current document, go by the careful path at once.
//
// The careful path reads the run's documents (one find by _id), applies
// each statement to them in Go (as reapply.go does for non-viable paths:
// an update of a missing document applies to {_id}) and writes the
// results as replacements: by {_id, key}, upserting, where the key stays;
// as a retryable write by the old key, alone, where it changes. Applying
// the run's statements that had matched once more is harmless: oplog
// entries are idempotent (Re-application).

// sendKeyed is send towards a mongos: by the shard key where the
// collection has one (sendSharded), else by _id. A mongos that answers
// ShardKeyNotFound knows a key the cache does not (another shard's
// applier, or an operator, sharded the collection since it was read): the
// keys are read again and the run sent again, a few times at most (the
// statements are idempotent).
func (x *Executor) sendKeyed(ctx context.Context, b *wirecmd.Builder, ops []Op) error {
	for attempt := 1; ; attempt++ {
		done, err := x.sendSharded(ctx, b, ops)
		if !done && x.plainSeam != nil {
			err = x.plainSeam(ctx, b, ops)
		} else if !done {
			err = x.sendPlain(ctx, b, ops)
		}
		if attempt >= keyRereads || !mongoerr.Has(err, mongoerr.ShardKeyNotFound) || ctx.Err() != nil {
			return err
		}
		x.Keys.Invalidate()
		x.Log.WithFields(logrus.Fields{"ns": ops[0].NS, "attempt": attempt}).
			Info("mongos needs a shard key the applier did not know: reading the destination's shard keys again")
	}
}

// keyRereads is how many times a run is sent, reading the shard keys
// again after each ShardKeyNotFound.
const keyRereads = 3

// sendSharded applies ops through the sharded path when their namespace
// is sharded on more than _id; done is false when the plain path applies.
func (x *Executor) sendSharded(ctx context.Context, b *wirecmd.Builder, ops []Op) (done bool, err error) {
	var k *sharding.Key
	err = retry.Do(ctx, x.Log, "read the destination's shard keys", func() error {
		k, err = x.Keys.Of(ctx, ops[0].NS)
		return err
	})
	if err != nil {
		return true, &EntryError{Seq: ops[0].Seq, TS: ops[0].TS, NS: ops[0].NS, Err: err}
	}
	if k == nil || classOf(ops[0].Kind) == classInsert && !x.anyInWindow(ops) {
		return false, nil
	}
	return true, x.shardedRun(ctx, b, ops, k)
}

func (x *Executor) anyInWindow(ops []Op) bool {
	for i := range ops {
		if x.inWindow(&ops[i]) {
			return true
		}
	}
	return false
}

// shardedRun applies one run of ops (runLen) on a namespace sharded on k.
func (x *Executor) shardedRun(ctx context.Context, b *wirecmd.Builder, ops []Op, k *sharding.Key) error {
	_, coll := splitNS(ops[0].NS)
	switch classOf(ops[0].Kind) {
	case classDelete:
		cmd := buildShardedDeletes(b, coll, ops, k, x.wc)
		_, err := x.runCounted(ctx, ops, cmd)
		return err
	case classInsert:
		ops = asReplacements(ops)
	}
	for i := range ops {
		if ops[i].Fetch != nil || ops[i].Kind == KindUpdate && touches(k, ops[i].Doc) {
			return x.settleSharded(ctx, ops, k)
		}
	}
	n, err := x.runCounted(ctx, ops, buildShardedUpdates(b, coll, ops, k, x.wc))
	if err != nil {
		if _, ok := nonViableAt(unwrapEntry(err)); !ok {
			return err
		}
	} else if n == len(ops) {
		return nil
	}
	return x.settleSharded(ctx, ops, k)
}

// asReplacements is ops (inserts) as replacements by the same documents.
func asReplacements(ops []Op) []Op {
	out := make([]Op, len(ops))
	for i, op := range ops {
		op.Kind = KindReplace
		out[i] = op
	}
	return out
}

// buildShardedUpdates is the first attempt at a run of replacements and
// modifier updates: by _id and key, no upserts.
func buildShardedUpdates(b *wirecmd.Builder, coll string, ops []Op, k *sharding.Key, wc []byte) bson.Raw {
	var q []byte
	b.Begin("update", coll, "updates", true)
	for i := range ops {
		op := &ops[i]
		if op.Kind == KindReplace {
			q = k.AppendQuery(q[:0], op.ID, op.Doc)
			if oplog.HasDollarKey(op.Doc) {
				b.ReplaceLiteralQ(q, op.Doc, false)
			} else {
				b.UpdateQ(q, op.Doc, false)
			}
			continue
		}
		var ok bool
		if q, ok = k.AppendLoggedQuery(q[:0], op.ID, op.keyRaw()); !ok {
			q = append(q[:0], idFilter(op.ID)...)
		}
		b.UpdateQ(q, op.Doc, false)
	}
	return b.End(wc)
}

// buildShardedDeletes deletes by _id, plus the key the entry logged.
func buildShardedDeletes(b *wirecmd.Builder, coll string, ops []Op, k *sharding.Key, wc []byte) bson.Raw {
	var q []byte
	b.Begin("delete", coll, "deletes", true)
	for i := range ops {
		var ok bool
		if q, ok = k.AppendLoggedQuery(q[:0], ops[i].ID, ops[i].keyRaw()); !ok {
			q = append(q[:0], idFilter(ops[i].ID)...)
		}
		b.DeleteQ(q)
	}
	return b.End(wc)
}

// runCounted runs a write command for ops, retrying what the server
// recovers from, and returns the reply's n (statements matched).
func (x *Executor) runCounted(ctx context.Context, ops []Op, cmd bson.Raw) (int, error) {
	db, _ := splitNS(ops[0].NS)
	var n int
	err := x.retry(ctx, ops[0].NS, "write to "+ops[0].NS, func() error {
		reply, err := x.Client.Database(db).RunCommand(x.commandCtx(ctx), cmd).Raw()
		if err != nil {
			return err
		}
		v, _ := reply.Lookup("n").AsInt64OK()
		n = int(v)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		op := ops[0]
		var we mongo.WriteException
		if errors.As(err, &we) && len(we.WriteErrors) > 0 && we.WriteErrors[0].Index < len(ops) {
			op = ops[we.WriteErrors[0].Index]
		}
		return n, &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
	}
	return n, err
}

func unwrapEntry(err error) error {
	var ee *EntryError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// settleSharded is the careful path (see above) for a run of ops.
func (x *Executor) settleSharded(ctx context.Context, ops []Op, k *sharding.Key) error {
	state, err := x.currentDocs(ctx, ops)
	if err != nil {
		return err
	}
	writes, err := planSettle(ops, state, k)
	if err != nil {
		return err
	}
	_, coll := splitNS(ops[0].NS)
	b := wirecmd.Builder{Bypass: true}
	var pending []Op // the statements in b, for error messages
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		_, err := x.runCounted(ctx, pending, b.End(x.wc))
		pending = pending[:0]
		return err
	}
	for _, w := range writes {
		if w.skipped > 0 {
			x.noop(w.op, ReasonPathNotViable, logrus.Fields{"paths": w.skipped})
		}
		if w.change {
			if err := flush(); err != nil {
				return err
			}
			if err := x.changeKey(ctx, w.op, k, w.q, w.doc); err != nil {
				return err
			}
			continue
		}
		if len(pending) == 0 {
			b.Begin("update", coll, "updates", true)
		}
		if oplog.HasDollarKey(w.doc) {
			b.ReplaceLiteralQ(w.q, w.doc, true)
		} else {
			b.UpdateQ(w.q, w.doc, true)
		}
		if pending = append(pending, *w.op); len(pending) >= max(x.BulkSize, 1) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// keyedWrite is one write of the careful path: doc replaces the document
// found by q. Where the shard key stays, q holds the key and the write
// upserts; where it changes (change), q holds the current key and the
// write goes alone as a retryable write.
type keyedWrite struct {
	op      *Op
	q, doc  bson.Raw
	change  bool
	skipped int // non-viable paths skipped (Re-application)
}

// planSettle applies ops, in order, to state (the current documents by
// canonical _id; it is updated) and returns the writes that leave the
// destination as the result.
func planSettle(ops []Op, state map[string]bson.Raw, k *sharding.Key) ([]keyedWrite, error) {
	var out []keyedWrite
	var canon []byte
	for i := range ops {
		op := &ops[i]
		canon = appendCanon(canon[:0], op.ID.Type, op.ID.Value)
		cur := state[string(canon)]
		doc, skipped, err := afterOp(op, cur)
		if err != nil {
			return nil, &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
		}
		if doc == nil {
			continue // a diff with nothing to write
		}
		after, err := bson.Marshal(doc)
		if err != nil {
			return nil, &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
		}
		w := keyedWrite{op: op, doc: after, skipped: skipped}
		if cur != nil && !sameKey(k, cur, after) {
			w.q, w.change = k.AppendQuery(nil, op.ID, cur), true
		} else {
			w.q = k.AppendQuery(nil, op.ID, after)
		}
		out = append(out, w)
		state[string(canon)] = after
	}
	return out, nil
}

// currentDocs reads the destination's documents of ops, by the canonical
// form of their _id (appendCanon). Two documents with one _id (on two
// shards) are an error: the destination no longer matches the source, and
// no rule says which one is right.
func (x *Executor) currentDocs(ctx context.Context, ops []Op) (map[string]bson.Raw, error) {
	dbName, coll := splitNS(ops[0].NS)
	ids := make(bson.A, 0, len(ops))
	for i := range ops {
		ids = append(ids, ops[i].ID)
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	state := map[string]bson.Raw{}
	err := x.retry(ctx, ops[0].NS, "read "+ops[0].NS, func() error {
		clear(state)
		cur, err := x.Client.Database(dbName, x.readOpts()).Collection(coll).Find(ctx, filter)
		if err != nil {
			return err
		}
		defer cur.Close(ctx)
		var canon []byte
		for cur.Next(ctx) {
			doc := append(bson.Raw(nil), cur.Current...)
			id := doc.Lookup("_id")
			canon = appendCanon(canon[:0], id.Type, id.Value)
			if _, dup := state[string(canon)]; dup {
				return fmt.Errorf("%w: _id %s is held by two documents (on two shards)", errTwoCopies, id)
			}
			state[string(canon)] = doc
		}
		return cur.Err()
	})
	if err != nil {
		return nil, &EntryError{Seq: ops[0].Seq, TS: ops[0].TS, NS: ops[0].NS, Err: err}
	}
	return state, nil
}

var errTwoCopies = errors.New("the destination holds a document twice")

// changeKey replaces the document op.ID, found by old (its _id and current
// shard key), by doc, whose shard key differs: as a retryable write, which
// mongos requires for a shard key change (the driver adds the session and
// transaction number; the destination URI must not turn retryWrites off).
func (x *Executor) changeKey(ctx context.Context, op *Op, k *sharding.Key, old, doc bson.Raw) error {
	dbName, coll := splitNS(op.NS)
	copts := options.Collection()
	if x.WriteConcern != nil {
		copts.SetWriteConcern(x.WriteConcern)
	}
	c := x.Client.Database(dbName).Collection(coll, copts)
	err := x.retry(ctx, op.NS, "change a shard key in "+op.NS, func() error {
		var res *mongo.UpdateResult
		var err error
		if cctx := x.commandCtx(ctx); oplog.HasDollarKey(doc) {
			res, err = c.UpdateOne(cctx, old, wirecmd.LiteralReplacement(doc), options.UpdateOne().SetBypassDocumentValidation(true))
		} else {
			res, err = c.ReplaceOne(cctx, old, doc, options.Replace().SetBypassDocumentValidation(true))
		}
		if err != nil || res.MatchedCount > 0 {
			return err
		}
		// Nothing under the old key: an attempt whose reply was lost may
		// have moved it already.
		n, err := c.CountDocuments(ctx, k.AppendQuery(nil, op.ID, doc))
		if err == nil && n == 0 {
			err = fmt.Errorf("document _id %s vanished while its shard key was changed", op.ID)
		}
		return err
	})
	if err != nil {
		return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: fmt.Errorf("change the shard key: %w", err)}
	}
	x.Log.WithFields(logrus.Fields{"seq": op.Seq, "ns": op.NS}).Debug("shard key changed by a retryable write")
	return nil
}

// sameKey reports whether documents a and b hold the same value of the
// shard key k (a missing field and null are the same; numbers compare by
// value).
func sameKey(k *sharding.Key, a, b bson.Raw) bool {
	var ca, cb []byte
	for _, p := range k.Paths() {
		va, vb := sharding.ValueAt(a, p), sharding.ValueAt(b, p)
		ca = appendCanon(ca[:0], bson.Type(va.Type), va.Data)
		cb = appendCanon(cb[:0], bson.Type(vb.Type), vb.Data)
		if !bytes.Equal(ca, cb) {
			return false
		}
	}
	return true
}

// touches reports whether a modifier update ({$set: {path: v}, $unset:
// {path: true}}) writes a path at, above or inside a field of the shard key
// k: it may change the document's shard key.
func touches(k *sharding.Key, update bson.Raw) bool {
	touched := false
	oplog.EachElement(update, func(_ []byte, v bsoncore.Value) error {
		paths, ok := v.DocumentOK()
		if !ok {
			return nil
		}
		oplog.EachElement(bson.Raw(paths), func(p []byte, _ bsoncore.Value) error {
			for _, f := range k.Fields() {
				if overlaps(string(p), f) {
					touched = true
					return oplog.ErrStop
				}
			}
			return nil
		})
		if touched {
			return oplog.ErrStop
		}
		return nil
	})
	return touched
}

// overlaps reports whether dotted paths p and f are the same, or one lies
// inside the other.
func overlaps(p, f string) bool {
	if len(p) > len(f) {
		p, f = f, p
	}
	return strings.HasPrefix(f, p) && (len(f) == len(p) || f[len(p)] == '.')
}
