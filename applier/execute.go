package applier

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/mongo-sync/mongo-sync/internal/retry"
	"github.com/mongo-sync/mongo-sync/status"
	"github.com/sirupsen/logrus"
	"github.com/spaolacci/murmur3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"
)

// Executor sends ops to the destination: writes hash-partitioned over
// Workers, each worker in oplog order with ordered bulk writes of at most
// BulkSize; barriers alone after everything before them is acknowledged.
type Executor struct {
	Client   *mongo.Client
	Workers  int
	BulkSize int
	Log      logrus.FieldLogger
	Rec      *status.Recorder
}

// Partition is the worker of a document: murmur3 over the namespace and the
// raw BSON of its _id (type byte + value bytes), never a Go type.
func Partition(ns string, id bson.RawValue, workers int) int {
	// The streaming hasher: murmur3.Sum32's pointer arithmetic trips the
	// race detector's checkptr on short inputs (it crashed a -race build).
	h := murmur3.New32()
	h.Write([]byte(ns))
	h.Write([]byte{0, byte(id.Type)})
	h.Write(id.Value)
	return int(h.Sum32() % uint32(workers))
}

// Apply runs ops in order semantics: per-document order, barriers alone.
func (x *Executor) Apply(ctx context.Context, ops []Op) error {
	start := 0
	for i, op := range ops {
		if !op.IsBarrier() {
			continue
		}
		if err := x.writes(ctx, ops[start:i]); err != nil {
			return err
		}
		if err := retry.Do(ctx, x.Log, "command "+op.Desc, func() error { return op.Cmd(ctx, x.Client) }); err != nil {
			return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: fmt.Errorf("%s: %w", op.Desc, err)}
		}
		start = i + 1
	}
	return x.writes(ctx, ops[start:])
}

// writes applies a run of document writes in parallel partitions.
func (x *Executor) writes(ctx context.Context, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	parts := make([][]Op, x.Workers)
	for _, op := range ops {
		p := Partition(op.NS, op.ID, x.Workers)
		parts[p] = append(parts[p], op)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, part := range parts {
		if len(part) == 0 {
			continue
		}
		g.Go(func() error { return x.partition(gctx, part) })
	}
	err := g.Wait()
	if err != nil && mongo.IsDuplicateKeyError(err) {
		// A secondary unique index may conflict only transiently across
		// partitions: replay the run serially, in oplog order.
		x.Log.WithError(err).Info("duplicate key: re-applying the batch serially in oplog order")
		x.Rec.Conflict()
		return x.serial(ctx, ops)
	}
	return err
}

// partition sends one worker's ops: consecutive ops on one namespace go
// in ordered bulk writes of at most BulkSize.
func (x *Executor) partition(ctx context.Context, ops []Op) error {
	for len(ops) > 0 {
		n := 1
		if ops[0].Insert != nil {
			for n < len(ops) && n < x.BulkSize && ops[n].NS == ops[0].NS && ops[n].Insert != nil {
				n++
			}
			if err := x.inserts(ctx, ops[:n]); err != nil {
				return err
			}
			ops = ops[n:]
			continue
		}
		for n < len(ops) && n < x.BulkSize && ops[n].NS == ops[0].NS && ops[n].Fetch == nil && ops[0].Fetch == nil && ops[n].Insert == nil {
			n++
		}
		if err := x.bulk(ctx, ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// inserts sends a run of insert entries (different documents, or the same
// one only after a write that ended the run) as one unordered insert; the
// documents that already exist (a replay) are then replaced in order.
func (x *Executor) inserts(ctx context.Context, ops []Op) error {
	db, coll := splitNS(ops[0].NS)
	c := x.Client.Database(db).Collection(coll)
	docs := make([]any, len(ops))
	for i, op := range ops {
		docs[i] = op.Insert
	}
	var dups []Op
	err := retry.Do(ctx, x.Log, "insert into "+ops[0].NS, func() error {
		dups = dups[:0]
		_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		var bwe mongo.BulkWriteException
		if err == nil || !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return err
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 || we.Index >= len(ops) {
				return err
			}
			dups = append(dups, ops[we.Index])
		}
		return nil
	})
	if err != nil {
		op := ops[0]
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteErrors[0].Index < len(ops) {
			op = ops[bwe.WriteErrors[0].Index]
		}
		return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
	}
	if len(dups) == 0 {
		return nil
	}
	sort.Slice(dups, func(i, j int) bool { return dups[i].Seq < dups[j].Seq })
	return x.bulk(ctx, dups)
}

func (x *Executor) serial(ctx context.Context, ops []Op) error {
	for i := range ops {
		if err := x.bulk(ctx, ops[i:i+1]); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return fmt.Errorf("unique index conflict that serial replay does not resolve: %w", err)
			}
			return err
		}
	}
	return nil
}

func (x *Executor) bulk(ctx context.Context, ops []Op) error {
	db, coll := splitNS(ops[0].NS)
	c := x.Client.Database(db).Collection(coll)
	err := retry.Do(ctx, x.Log, "bulk write to "+ops[0].NS, func() error {
		models := make([]mongo.WriteModel, 0, len(ops))
		for _, op := range ops {
			m := op.Model
			if op.Fetch != nil {
				cur, err := c.FindOne(ctx, idFilter(op.ID)).Raw()
				if errors.Is(err, mongo.ErrNoDocuments) {
					cur, err = nil, nil
				}
				if err != nil {
					return err
				}
				if m, err = op.Fetch(cur); err != nil {
					return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
				}
			}
			if m != nil {
				models = append(models, m)
			}
		}
		if len(models) == 0 {
			return nil
		}
		_, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
		return err
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	var ee *EntryError
	if errors.As(err, &ee) {
		return err
	}
	// Name the entry the server complained about.
	op := ops[0]
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteErrors[0].Index < len(ops) {
		op = ops[bwe.WriteErrors[0].Index]
	}
	return &EntryError{Seq: op.Seq, TS: op.TS, NS: op.NS, Err: err}
}

func splitNS(ns string) (string, string) {
	for i := 0; i < len(ns); i++ {
		if ns[i] == '.' {
			return ns[:i], ns[i+1:]
		}
	}
	return ns, ""
}
