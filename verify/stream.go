package verify

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Server error codes the sorted reads act on (src/mongo/base/error_codes.yml
// in mongodb/mongo).
const (
	codeCursorNotFound = 43  // reaped idle (cursorTimeoutMillis, 10 min), or its session expired
	codeCursorKilled   = 237 // killCursors / killSessions / killOp
	codeNotImplemented = 238
)

// maxReopens bounds how often in a row a part's cursor is opened again
// without yielding a document.
const maxReopens = 3

// sortedRead says how to read a collection in _id order.
type sortedRead struct {
	batch int32
	// collated: the collection has a default collation. Its _id index is
	// ordered by that collation, so the simple collation's sort cannot walk
	// it: mongod sorts in memory (disk use allowed), and a re-opened cursor
	// cannot seek by the index either (it reads from the start, skipping).
	collated bool
}

// stream yields the documents of one or more parts (one collection, or its
// parts on every shard of a sharded source read directly) in _id order,
// merged.
type stream struct {
	ns    string
	read  sortedRead
	parts []*part
	fail  error
}

// part is one cursor of a stream and the document at its head.
type part struct {
	c    *mongo.Collection
	cur  *mongo.Cursor
	head bson.Raw
	ok   bool
	// last is the _id of the last document taken from this part: a cursor
	// opened again starts after it. skip: the re-opened cursor may return
	// documents up to last again (min is inclusive; a server may ignore it).
	last    bson.RawValue
	skip    bool
	reopens int
	// noCollation: the server refused the collation option as not
	// implemented (the test server, FerretDB, which has no collations; its
	// only order is the simple one).
	noCollation bool
	err         error
}

// sorted reads every part in _id order, with the simple collation (a
// collection's default collation would order string _ids otherwise),
// merged into one stream.
func (src source) sorted(ctx context.Context, read sortedRead) (*stream, error) {
	s := &stream{ns: src[0].Database().Name() + "." + src[0].Name(), read: read}
	for _, c := range src {
		p := &part{c: c}
		s.parts = append(s.parts, p)
		if err := s.open(ctx, p); err != nil {
			s.close(ctx)
			return nil, err
		}
		s.fill(ctx, p)
	}
	return s, nil
}

// open opens p's cursor, after p.last if a document was taken from it.
func (s *stream) open(ctx context.Context, p *part) error {
	for {
		o := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(s.read.batch)
		if !p.noCollation {
			o.SetCollation(&options.Collation{Locale: "simple"})
		}
		if s.read.collated {
			o.SetAllowDiskUse(true)
		} else if p.last.Type != 0 {
			// min, not {$gt: last}: a comparison in a filter matches one
			// type only, min bounds the index scan across every type.
			o.SetHint(bson.D{{Key: "_id", Value: 1}}).SetMin(bson.D{{Key: "_id", Value: p.last}})
		}
		cur, err := p.c.Find(ctx, bson.D{}, o)
		if err != nil && !p.noCollation && hasCode(err, codeNotImplemented) {
			p.noCollation = true
			continue
		}
		if err != nil {
			return err
		}
		p.cur, p.skip = cur, p.last.Type != 0
		return nil
	}
}

// fill reads p's next document into its head. A cursor the server no
// longer has (reaped idle while the merge took other parts' documents, or
// killed) is opened again after the last _id taken.
func (s *stream) fill(ctx context.Context, p *part) {
	for {
		d, ok := next(ctx, p.cur)
		if ok {
			if p.skip && compareValues(d.Lookup("_id"), p.last) <= 0 {
				continue
			}
			p.head, p.ok, p.skip, p.reopens = d, true, false, 0
			return
		}
		p.head, p.ok = nil, false
		err := p.cur.Err()
		if err == nil {
			return
		}
		if !hasCode(err, codeCursorNotFound, codeCursorKilled) || p.reopens >= maxReopens {
			p.err = err
			return
		}
		p.cur.Close(ctx)
		p.reopens++
		if err := s.open(ctx, p); err != nil {
			p.err = fmt.Errorf("open again after _id %s: %w", p.last, err)
			p.cur = nil
			return
		}
	}
}

// next returns the document with the smallest _id of all parts. One _id on
// two parts (two shards) ends the stream with an error.
func (s *stream) next(ctx context.Context) (bson.Raw, bool) {
	if s.fail != nil {
		return nil, false
	}
	var min *part
	for _, p := range s.parts {
		if !p.ok {
			continue
		}
		if min == nil {
			min = p
			continue
		}
		switch c := cmpIDs(p.head, min.head, true, true); {
		case c == 0:
			s.fail = fmt.Errorf("_id %s of %s is on two shards (an orphaned document, or a migration that ran: stop the balancer)", p.head.Lookup("_id"), s.ns)
			return nil, false
		case c < 0:
			min = p
		}
	}
	if min == nil {
		return nil, false
	}
	d := min.head
	min.last = d.Lookup("_id")
	s.fill(ctx, min)
	return d, true
}

func (s *stream) err() error {
	if s.fail != nil {
		return s.fail
	}
	for i, p := range s.parts {
		if p.err == nil {
			continue
		}
		if len(s.parts) > 1 {
			return fmt.Errorf("shard %d: %w", i, p.err)
		}
		return p.err
	}
	return nil
}

func (s *stream) close(ctx context.Context) {
	for _, p := range s.parts {
		if p.cur != nil {
			p.cur.Close(ctx)
		}
	}
}

// hasCode reports a server error with one of these codes.
func hasCode(err error, codes ...int) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}
