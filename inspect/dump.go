package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Filter chooses the entries Dump prints.
type Filter struct {
	NS   string          // only this namespace (exact)
	NSRe *regexp.Regexp  // only namespaces it matches (before NS)
	Ops  map[string]bool // only these ops (i, u, d, c, n); empty: all
	// FromSeq is the first seq read (0: the oldest sealed); FromTS leaves
	// out entries before it.
	FromSeq uint64
	FromTS  bson.Timestamp
	Limit   int // print at most this many (0: all)
}

func (f Filter) keep(e spool.Entry) bool {
	if e.TS.Before(f.FromTS) {
		return false
	}
	if len(f.Ops) > 0 {
		op, _ := e.Raw.Lookup("op").StringValueOK()
		if !f.Ops[op] {
			return false
		}
	}
	ns, _ := e.Raw.Lookup("ns").StringValueOK()
	switch {
	case f.NSRe != nil:
		return f.NSRe.MatchString(ns)
	case f.NS != "":
		return ns == f.NS
	}
	return true
}

// Dump prints the sealed entries of the spool in dir that f keeps to out,
// one relaxed Extended JSON document {seq, ts, op, ns, entry} per line; a
// gap in the spool and what sits in its open segment are said on errOut.
func Dump(ctx context.Context, dir string, f Filter, out, errOut io.Writer) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		// Not created: a reader that has not started, or a wrong path.
		return fmt.Errorf("spool %s: not started (no such directory): nothing to dump", dir)
	}
	l, err := spool.List(dir)
	if err != nil {
		return err
	}
	from := f.FromSeq
	if from == 0 && len(l.Sealed) > 0 {
		from = l.Sealed[0].First
	}
	r, err := spool.OpenReader(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	printed := 0
	var readErr error
	for from > 0 && (f.Limit == 0 || printed < f.Limit) {
		es, err := r.Read(ctx, from, 1000, 16<<20)
		var gap *spool.GapError
		if errors.As(err, &gap) {
			fmt.Fprintf(errOut, "warning: %v\n", gap)
			from = gap.To + 1
			continue
		}
		if err != nil {
			readErr = err
			break
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if !f.keep(e) {
				continue
			}
			line, err := dumpLine(e)
			if err != nil {
				return fmt.Errorf("seq %d: %w", e.Seq, err)
			}
			fmt.Fprintln(out, line)
			if printed++; f.Limit > 0 && printed >= f.Limit {
				break
			}
		}
		from = es[len(es)-1].Seq + 1
	}
	if l.Open != nil {
		if st, ok := spool.ReadWriterState(dir); ok && spool.WriterRunning(dir) {
			fmt.Fprintf(errOut, "%d more entries (seq %d-%d) sit in the open segment %s of a running reader; they are readable once it seals it\n",
				st.Entries, st.FirstSeq, st.LastSeq, st.Segment)
		} else {
			fmt.Fprintf(errOut, "open segment %s was left by a reader that is not running; it is sealed when a reader starts\n", l.Open.Name())
		}
	}
	return readErr
}

func dumpLine(e spool.Entry) (string, error) {
	op, _ := e.Raw.Lookup("op").StringValueOK()
	ns, _ := e.Raw.Lookup("ns").StringValueOK()
	b, err := bson.MarshalExtJSON(bson.D{
		{Key: "seq", Value: int64(e.Seq)}, {Key: "ts", Value: e.TS},
		{Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "entry", Value: e.Raw},
	}, false, false)
	return string(b), err
}
