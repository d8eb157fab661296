// Package verify compares the destination with the source, namespace by
// namespace, honouring sync.dbs filters, renames and field projections:
// documents (every one, by _id), indexes and collection options.
package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"github.com/mongo-sync/mongo-sync/internal/projection"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Result is one namespace's comparison.
type Result struct {
	Src, Dst       string
	SrcDocs        int64
	DstDocs        int64
	Missing        []string // _ids on the source only (first few)
	Extra          []string // _ids on the destination only
	Differ         []string // _ids whose documents differ
	MissingN       int64
	ExtraN         int64
	DifferN        int64
	IndexProblems  []string
	OptionProblems []string
	// Unsettled (live comparisons): documents the source changed in every
	// re-check, or that differed in the last one only; not counted as
	// differences.
	Unsettled  []string
	UnsettledN int64
	// CountProblem: the counts differ (sample comparisons count apart).
	CountProblem string
	// Sampled: documents compared by a sample comparison (0: every one).
	Sampled int64
}

// OK reports a namespace without differences.
func (r Result) OK() bool {
	return r.MissingN == 0 && r.ExtraN == 0 && r.DifferN == 0 && r.CountProblem == "" && len(r.IndexProblems) == 0 && len(r.OptionProblems) == 0
}

// Verifier compares source and destination.
type Verifier struct {
	Src, Dst *mongo.Client
	// Shards, if set, are the shards of a sharded source read directly
	// (Src unused): the destination must hold their union, and an _id on
	// two shards is reported.
	Shards []*mongo.Client
	NS     *config.Namespaces
	// Show is how many differing _ids are listed per kind (all are counted).
	Show int
	// Live, if set, re-checks what differs while writes continue (see Live).
	Live *Live
	// Sample, if above 0, compares that many random documents per
	// collection (and the counts) instead of every document.
	Sample int
	// batch is the sorted reads' batch size (default 1000; tests make it
	// small to make cursors fetch more).
	batch int32
}

// Run compares every selected namespace.
func (v *Verifier) Run(ctx context.Context) ([]Result, error) {
	if v.Live != nil && (v.Live.Settle == nil || v.Live.Watch == nil) {
		return nil, errors.New("verify: a live comparison needs Live.Settle and Live.Watch")
	}
	sel, err := v.listSelected(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(sel))
	var live []*suspects
	for _, s := range sel {
		r, p, err := v.compare(ctx, s)
		out = append(out, r)
		if err != nil {
			return out, err
		}
		if p != nil {
			p.r = &out[len(out)-1]
			live = append(live, p)
		}
	}
	if len(live) > 0 {
		return out, v.recheck(ctx, live)
	}
	return out, nil
}

// compare compares one namespace; live, it also returns what to re-check.
func (v *Verifier) compare(ctx context.Context, s copier.Selected) (Result, *suspects, error) {
	r := Result{Src: s.SrcNS, Dst: s.DstNS}
	sdb, scoll := config.SplitNS(s.SrcNS)
	ddb, dcoll := config.SplitNS(s.DstNS)
	src, dst := v.source(sdb, scoll), v.Dst.Database(ddb).Collection(dcoll)
	if err := v.options(ctx, s, ddb, dcoll, &r); err != nil {
		return r, nil, err
	}
	if s.View {
		return r, nil, nil
	}
	docs := v.documents
	if v.Sample > 0 {
		docs = v.sample
	}
	ids, err := docs(ctx, s, src, dst, &r)
	if err != nil {
		return r, nil, err
	}
	if err := v.indexes(ctx, src, dst, &r); err != nil {
		return r, nil, err
	}
	// Live: re-check what differs, unless the walk found more than it keeps.
	if v.Live == nil || len(ids) == 0 || int64(len(ids)) != r.MissingN+r.ExtraN+r.DifferN {
		return r, nil, nil
	}
	return r, &suspects{s: s, src: src, dst: dst, ids: ids}, nil
}

// documents walks both collections in _id order, in step.
func (v *Verifier) documents(ctx context.Context, s copier.Selected, src source, dst *mongo.Collection, r *Result) ([]bson.RawValue, error) {
	read := sortedRead{batch: v.batch, collated: hasKey(s.Options, "collation")}
	if read.batch <= 0 {
		read.batch = 1000
	}
	sc, err := src.sorted(ctx, read)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.SrcNS, err)
	}
	defer sc.close(ctx)
	dc, err := source{dst}.sorted(ctx, read)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.DstNS, err)
	}
	defer dc.close(ctx)
	var suspects []bson.RawValue // live: what differs, to re-check
	suspect := func(doc bson.Raw) {
		if v.Live != nil && len(suspects) < maxSuspects {
			suspects = append(suspects, doc.Lookup("_id"))
		}
	}
	a, aok := sc.next(ctx)
	b, bok := dc.next(ctx)
	for aok || bok {
		switch c := cmpIDs(a, b, aok, bok); {
		case c < 0:
			r.SrcDocs++
			r.MissingN++
			r.Missing = v.note(r.Missing, a)
			suspect(a)
			a, aok = sc.next(ctx)
		case c > 0:
			r.DstDocs++
			r.ExtraN++
			r.Extra = v.note(r.Extra, b)
			suspect(b)
			b, bok = dc.next(ctx)
		default:
			r.SrcDocs++
			r.DstDocs++
			want, err := bson.Marshal(projection.Doc(a, s.Fields))
			if err != nil {
				return nil, err
			}
			if !sameDoc(want, b) {
				r.DifferN++
				r.Differ = v.note(r.Differ, a)
				suspect(a)
			}
			a, aok = sc.next(ctx)
			b, bok = dc.next(ctx)
		}
	}
	if err := sc.err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.SrcNS, err)
	}
	if err := dc.err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.DstNS, err)
	}
	return suspects, nil
}

// hasKey reports a top-level field of doc.
func hasKey(doc bson.Raw, key string) bool {
	_, err := doc.LookupErr(key)
	return err == nil
}

func next(ctx context.Context, c *mongo.Cursor) (bson.Raw, bool) {
	if !c.Next(ctx) {
		return nil, false
	}
	return append(bson.Raw(nil), c.Current...), true
}

// cmpIDs orders two documents by _id as the server sorted them (see
// compareValues); an exhausted side (!ok) sorts after everything.
func cmpIDs(a, b bson.Raw, aok, bok bool) int {
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return 1
	case !bok:
		return -1
	}
	x, y := a.Lookup("_id"), b.Lookup("_id")
	if x.Equal(y) {
		return 0
	}
	return compareValues(x, y)
}

// sameDoc compares two documents field by field, in any field order, with
// types (int32 1 and int64 1 differ).
func sameDoc(a, b bson.Raw) bool {
	if bytes.Equal(a, b) {
		return true
	}
	return bsonx.Canonical(a) == bsonx.Canonical(b)
}

func (v *Verifier) note(list []string, doc bson.Raw) []string {
	if len(list) >= v.Show {
		return list
	}
	return append(list, doc.Lookup("_id").String())
}
