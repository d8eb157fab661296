package verify

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/projection"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Live makes a comparison hold while writes continue on the source. A
// document found different in the walk is checked again, in rounds: the
// source's position is marked, the document is read from the source, then
// (once the destination holds the source as of that read) from the
// destination, then from the source once more, and the source's oplog is
// read from the mark on. A document the oplog names in that interval may
// have changed, even if both reads of the source agree (A, B, A: the
// destination may hold B); it is checked again in the next round. One the
// oplog does not name kept its state throughout, so the destination, which
// applied every entry up to a point inside the interval, holds that state:
// if it holds something else, the difference is real.
type Live struct {
	// Settle takes the source's position now and returns once the
	// destination holds everything the source wrote up to it.
	Settle func(ctx context.Context) error
	// Watch marks the source's position now; the function it returns
	// reads what the source's oplog logged after the mark, up to its
	// newest entry then.
	Watch func(ctx context.Context) (func(ctx context.Context) (*Written, error), error)
	// Rounds bounds the re-checks (default 8).
	Rounds int
}

// maxSuspects bounds the _ids a live comparison re-checks per namespace;
// past it the walk's differences are reported as found.
const maxSuspects = 100_000

// idKey is an _id's identity as the server sees it: what compareValues
// holds equal is one key. Numbers go by exact value in any type (1, 1.0,
// NumberLong(1) and NumberDecimal("1.00") are one _id; int64 2^53 and
// 2^53+1 are two), a symbol as the string of its bytes, documents and
// arrays element by element; everything else by type and bytes.
func idKey(v bson.RawValue) string {
	return string(appendIDKey(nil, v))
}

func appendIDKey(b []byte, v bson.RawValue) []byte {
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		var s string
		if i, ok := integer(v); ok {
			s = strconv.FormatInt(i, 10)
		} else {
			switch c, r := exact(v); c {
			case nan:
				s = "NaN"
			case negInf:
				s = "-Inf"
			case posInf:
				s = "+Inf"
			default:
				s = r.RatString()
			}
		}
		return appendLen(append(b, 'n'), s)
	case bson.TypeString, bson.TypeSymbol:
		return appendLen(append(b, 's'), stringOf(v))
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		b = append(b, byte(v.Type))
		elems, _ := bson.Raw(v.Value).Elements()
		b = binary.AppendUvarint(b, uint64(len(elems)))
		for _, e := range elems {
			b = appendIDKey(appendLen(b, e.Key()), e.Value())
		}
		return b
	}
	return appendLen(append(b, byte(v.Type)), string(v.Value))
}

// appendLen appends s with its length before it, so that keys built of
// several parts cannot run into each other.
func appendLen(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// byID reads the documents with these _ids, keyed by idKey.
func byID(ctx context.Context, c *mongo.Collection, ids []bson.RawValue) (map[string]bson.Raw, error) {
	out := make(map[string]bson.Raw, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		in := make(bson.A, n)
		for i, id := range ids[:n] {
			in[i] = id
		}
		cur, err := c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}})
		if err != nil {
			return nil, err
		}
		for cur.Next(ctx) {
			out[idKey(cur.Current.Lookup("_id"))] = append(bson.Raw(nil), cur.Current...)
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// suspects are one namespace's documents to re-check (live).
type suspects struct {
	s   copier.Selected
	src source
	dst *mongo.Collection
	r   *Result
	ids []bson.RawValue
	// this round's reads: the source, the destination, the source again
	s1, d, s2 map[string]bson.Raw
}

// recheck re-checks the suspects of every namespace together (one Settle
// and one read of the source's oplog per round for all of them; see Live)
// and replaces each result's differences with those that are real.
func (v *Verifier) recheck(ctx context.Context, all []*suspects) error {
	for _, p := range all {
		r := p.r
		r.Missing, r.Extra, r.Differ = nil, nil, nil
		r.MissingN, r.ExtraN, r.DifferN = 0, 0, 0
	}
	rounds := v.Live.Rounds
	if rounds <= 0 {
		rounds = 8
	}
	for round := 0; round < rounds; round++ {
		var left []*suspects
		for _, p := range all {
			if len(p.ids) > 0 {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
		since, err := v.Live.Watch(ctx)
		if err != nil {
			return err
		}
		for _, p := range left {
			if p.s1, err = p.src.byID(ctx, p.ids); err != nil {
				return fmt.Errorf("re-read %s: %w", p.s.SrcNS, err)
			}
		}
		if err := v.Live.Settle(ctx); err != nil {
			return err
		}
		for _, p := range left {
			if p.d, err = byID(ctx, p.dst, p.ids); err != nil {
				return fmt.Errorf("re-read %s: %w", p.s.DstNS, err)
			}
			if p.s2, err = p.src.byID(ctx, p.ids); err != nil {
				return fmt.Errorf("re-read %s: %w", p.s.SrcNS, err)
			}
		}
		w, err := since(ctx)
		if err != nil {
			return err
		}
		for _, p := range left {
			if err := v.recheckRound(p, w); err != nil {
				return err
			}
		}
	}
	// Still moving when the rounds ran out.
	for _, p := range all {
		for _, id := range p.ids {
			p.r.UnsettledN++
			if len(p.r.Unsettled) < v.Show {
				p.r.Unsettled = append(p.r.Unsettled, id.String())
			}
		}
	}
	return nil
}

// recheckRound sorts p's suspects by this round's reads and w, what the
// source logged across them: the same now, differing (the source kept one
// state throughout and the destination holds another), or again.
func (v *Verifier) recheckRound(p *suspects, w *Written) error {
	r := p.r
	var again []bson.RawValue
	for _, id := range p.ids {
		k := idKey(id)
		a, b := p.s1[k], p.s2[k]
		if w.Doc(p.s.SrcNS, id) || (a == nil) != (b == nil) || (a != nil && !sameDoc(a, b)) {
			again = append(again, id) // may have changed meanwhile
			continue
		}
		got := p.d[k]
		var same bool
		switch {
		case a == nil:
			same = got == nil
		case got != nil:
			want, err := bson.Marshal(projection.Doc(a, p.s.Fields))
			if err != nil {
				return err
			}
			same = sameDoc(want, got)
		}
		switch {
		case same:
		case got == nil:
			r.MissingN++
			r.Missing = v.note(r.Missing, a)
		case a == nil:
			r.ExtraN++
			r.Extra = v.note(r.Extra, got)
		default:
			r.DifferN++
			r.Differ = v.note(r.Differ, a)
		}
	}
	p.ids = again
	return nil
}

// sample compares v.Sample random source documents with the destination's
// documents of the same _ids, and the counts (live: a count that differs is
// taken again once the destination holds the source as of the first count,
// and reported only if the source count held still and the destination's
// still differs).
func (v *Verifier) sample(ctx context.Context, s copier.Selected, src source, dst *mongo.Collection, r *Result) ([]bson.RawValue, error) {
	var ids []bson.RawValue
	per := (v.Sample + len(src) - 1) / len(src) // a shard's share
	for _, part := range src {
		cur, err := part.Aggregate(ctx, mongo.Pipeline{{{Key: "$sample", Value: bson.D{{Key: "size", Value: per}}}},
			{{Key: "$project", Value: bson.D{{Key: "_id", Value: 1}}}}})
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w (use a full verification where $sample is not supported)", s.SrcNS, err)
		}
		for cur.Next(ctx) {
			ids = append(ids, cloneValue(cur.Current.Lookup("_id")))
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", s.SrcNS, err)
		}
	}
	r.Sampled = int64(len(ids))
	a, err := src.byID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.SrcNS, err)
	}
	b, err := byID(ctx, dst, ids)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.DstNS, err)
	}
	var suspects []bson.RawValue
	for _, id := range ids {
		k := idKey(id)
		x, y := a[k], b[k]
		if x == nil { // deleted since the sample was taken
			continue
		}
		want, err := bson.Marshal(projection.Doc(x, s.Fields))
		if err != nil {
			return nil, err
		}
		switch {
		case y == nil:
			r.MissingN++
			r.Missing = v.note(r.Missing, x)
		case !sameDoc(want, y):
			r.DifferN++
			r.Differ = v.note(r.Differ, x)
		default:
			continue
		}
		suspects = append(suspects, id)
	}
	if err := v.counts(ctx, src, dst, r); err != nil {
		return nil, err
	}
	return suspects, nil
}

// counts fills SrcDocs and DstDocs, and a count problem if they differ
// (live: only if it persists, see sample).
func (v *Verifier) counts(ctx context.Context, src source, dst *mongo.Collection, r *Result) error {
	count := func(parts source, ns string) (int64, error) {
		var sum int64
		for _, c := range parts {
			n, err := c.CountDocuments(ctx, bson.D{})
			if err != nil {
				return 0, fmt.Errorf("count %s: %w", ns, err)
			}
			sum += n
		}
		return sum, nil
	}
	rounds := 1
	if v.Live != nil {
		rounds = max(v.Live.Rounds, 6)
	}
	for round := 0; round < rounds; round++ {
		var since func(context.Context) (*Written, error)
		if v.Live != nil {
			var err error
			if since, err = v.Live.Watch(ctx); err != nil {
				return err
			}
		}
		n1, err := count(src, r.Src)
		if err != nil {
			return err
		}
		if v.Live != nil {
			if err := v.Live.Settle(ctx); err != nil {
				return err
			}
		}
		m, err := count(source{dst}, r.Dst)
		if err != nil {
			return err
		}
		n2 := n1
		if v.Live != nil {
			if n2, err = count(src, r.Src); err != nil {
				return err
			}
		}
		r.SrcDocs, r.DstDocs = n2, m
		if m == n1 {
			return nil
		}
		moved := n1 != n2
		if since != nil && !moved {
			// The same count twice says nothing of a delete and an
			// insert between: the oplog does.
			w, err := since(ctx)
			if err != nil {
				return err
			}
			moved = w.Count(r.Src)
		}
		if !moved {
			r.CountProblem = fmt.Sprintf("document count differs: source %d, destination %d", n1, m)
			return nil
		}
	}
	r.UnsettledN++
	r.Unsettled = append(r.Unsettled, "the document count (the source's kept changing)")
	return nil
}

func cloneValue(v bson.RawValue) bson.RawValue {
	v.Value = append([]byte(nil), v.Value...)
	return v
}
