package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/config"
	"github.com/mongo-sync/mongo-sync/copier"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// idSet is one collection's _ids and the one the destination lacks.
type idSet struct {
	coll    string
	ids     []any
	missing int // index into ids
}

// idSets are collections whose _ids raw bytes order differently from
// mongod's sort (mongodb/mongo src/mongo/bson/bsonelement.cpp,
// compareElements; src/mongo/bson/bsonobj.cpp, woCompare): Dates before and
// after 1970 (little-endian, signed), binData of several lengths and
// subtypes (length first), and documents of several shapes (element by
// element: type, name, value). The insertion order is shuffled so neither
// side returns them in insertion order by chance.
func idSets() []idSet {
	base := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	var dates, bins, docs []any
	for i := 0; i < 300; i++ {
		j := (i * 7919) % 300 // a permutation of 0..299
		dates = append(dates, bson.NewDateTimeFromTime(base.Add(time.Duration(j)*97*24*time.Hour+time.Duration(j)*time.Millisecond)))
	}
	for i := 0; i < 120; i++ {
		j := (i * 37) % 120
		n := 1 + j%5 // lengths 1-5, and 256-260: a length's first byte orders 256 before 5
		if j%4 == 0 {
			n += 255
		}
		data := make([]byte, n)
		for k := range data {
			data[k] = byte(j*31 + k*7)
		}
		bins = append(bins, bson.Binary{Subtype: []byte{0x00, 0x04, 0x80}[j%3], Data: data})
	}
	for i := 0; i < 120; i++ {
		j := (i * 53) % 120
		switch j % 6 {
		case 0:
			docs = append(docs, bson.D{{Key: "a", Value: int32(j)}})
		case 1:
			docs = append(docs, bson.D{{Key: "a", Value: int32(j)}, {Key: "b", Value: fmt.Sprint(j)}})
		case 2:
			docs = append(docs, bson.D{{Key: "b", Value: int64(j)}})
		case 3:
			docs = append(docs, bson.D{{Key: "a", Value: fmt.Sprintf("s%03d", j)}})
		case 4:
			docs = append(docs, bson.D{{Key: "a", Value: bson.D{{Key: "x", Value: int32(j)}, {Key: "y", Value: float64(j) / 2}}}})
		case 5:
			docs = append(docs, bson.D{{Key: "z", Value: nil}, {Key: "n", Value: int32(j)}})
		}
	}
	// The missing Date is one whose little-endian bytes sort after the next
	// Date's; the missing binData the greatest of length 5, which the next,
	// of length 256, follows.
	missingDate, missingBin := -1, -1
	for i, x := range dates {
		t := int64(x.(bson.DateTime))
		next := int64(math.MaxInt64)
		for _, y := range dates {
			if u := int64(y.(bson.DateTime)); u > t && u < next {
				next = u
			}
		}
		if next != math.MaxInt64 && bytes.Compare(le64(t), le64(next)) > 0 && missingDate < 0 {
			missingDate = i
		}
	}
	for i, x := range bins {
		b := x.(bson.Binary)
		if len(b.Data) != 5 {
			continue
		}
		if missingBin < 0 {
			missingBin = i
			continue
		}
		m := bins[missingBin].(bson.Binary)
		if b.Subtype > m.Subtype || b.Subtype == m.Subtype && bytes.Compare(b.Data, m.Data) > 0 {
			missingBin = i
		}
	}
	return []idSet{{"dates", dates, missingDate}, {"bins", bins, missingBin}, {"docs", docs, 77}}
}

// load writes the sets: every document to the source (to shard i%len(src)
// when split, else the first half to shard 0 and the rest to the last
// shard), every document but the missing one to the destination.
func load(t *testing.T, db string, sets []idSet, src []*mongo.Client, dst *mongo.Client, interleave bool) {
	t.Helper()
	ctx := context.Background()
	for _, s := range sets {
		parts := make([][]any, len(src))
		var out []any
		for i, id := range s.ids {
			doc := bson.D{{Key: "_id", Value: id}, {Key: "i", Value: int32(i)}}
			k := i % len(src)
			if !interleave {
				k = min(i*len(src)/len(s.ids), len(src)-1)
			}
			parts[k] = append(parts[k], doc)
			if i != s.missing {
				out = append(out, doc)
			}
		}
		for k, p := range parts {
			if _, err := src[k].Database(db).Collection(s.coll).InsertMany(ctx, p); err != nil {
				t.Fatalf("load %s.%s on source %d: %v", db, s.coll, k, err)
			}
		}
		if _, err := dst.Database(db).Collection(s.coll).InsertMany(ctx, out); err != nil {
			t.Fatalf("load %s.%s on the destination: %v", db, s.coll, err)
		}
	}
}

// checkOneMissing asserts each set's result: exactly its one missing _id,
// nothing extra or different, no index or option problems.
func checkOneMissing(t *testing.T, db string, sets []idSet, res []Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	by := map[string]Result{}
	for _, r := range res {
		by[r.Src] = r
	}
	for _, s := range sets {
		ns := db + "." + s.coll
		r, ok := by[ns]
		if !ok {
			t.Errorf("%s: not compared (results %v)", ns, res)
			continue
		}
		want := val(t, s.ids[s.missing]).String()
		if r.MissingN != 1 || len(r.Missing) != 1 || r.Missing[0] != want {
			t.Errorf("%s: %d missing %v, want exactly 1: %s", ns, r.MissingN, r.Missing, want)
		}
		if r.ExtraN != 0 || r.DifferN != 0 {
			t.Errorf("%s: %d only on the destination %v, %d different %v; want 0 and 0", ns, r.ExtraN, r.Extra, r.DifferN, r.Differ)
		}
		if r.SrcDocs != int64(len(s.ids)) || r.DstDocs != int64(len(s.ids)-1) {
			t.Errorf("%s: counted %d source and %d destination documents, want %d and %d", ns, r.SrcDocs, r.DstDocs, len(s.ids), len(s.ids)-1)
		}
		if len(r.IndexProblems) != 0 || len(r.OptionProblems) != 0 || r.CountProblem != "" {
			t.Errorf("%s: unexpected problems: %v %v %q", ns, r.IndexProblems, r.OptionProblems, r.CountProblem)
		}
	}
}

func le64(i int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(i)) }

func allNamespaces() *config.Namespaces { return (&config.Config{}).Namespaces() }

// A replica-set-shaped source: Date, binData and document _ids, one
// document missing on the destination: exactly that one is reported.
// Before the comparator followed mongod's order, the walk took the
// server's order for a different one and reported hundreds of documents
// missing and as many only on the destination.
func TestVerify_IDOrder_ReplicaSet(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	sets := idSets()
	load(t, "order", sets, []*mongo.Client{src.Client()}, dst.Client(), false)
	v := &Verifier{Src: src.Client(), Dst: dst.Client(), NS: allNamespaces(), Show: 10, batch: 16}
	res, err := v.Run(context.Background())
	checkOneMissing(t, "order", sets, res, err)
}

// The same collections spread over two shards read directly (the per-shard
// merge, Verifier.Shards), every other document on each: the merge orders
// the shards' heads with the comparator.
func TestVerify_IDOrder_ShardMerge(t *testing.T) {
	s0, s1, dst := testmongo.StartSource(t), testmongo.StartSource(t), testmongo.StartDest(t)
	sets := idSets()
	load(t, "order", sets, []*mongo.Client{s0.Client(), s1.Client()}, dst.Client(), true)
	v := &Verifier{Shards: []*mongo.Client{s0.Client(), s1.Client()}, Dst: dst.Client(), NS: allNamespaces(), Show: 10, batch: 16}
	res, err := v.Run(context.Background())
	checkOneMissing(t, "order", sets, res, err)
}

// killFirstCursor returns a client for srv that kills, through a second
// client, the cursor of the first find on coll as soon as that find has
// answered: the cursor's first getMore then meets CursorNotFound, as a
// cursor reaped after idling 10 minutes does (cursorTimeoutMillis). It
// also records the find commands sent for coll.
func killFirstCursor(t *testing.T, srv *testmongo.Server, db, coll string) (c *mongo.Client, finds func() []bson.Raw, killed func() bool) {
	t.Helper()
	killer := srv.Client()
	var mu sync.Mutex
	var sent []bson.Raw
	var done bool
	mon := &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "find" && e.DatabaseName == db {
				if name, _ := e.Command.Lookup("find").StringValueOK(); name == coll {
					mu.Lock()
					sent = append(sent, append(bson.Raw(nil), e.Command...))
					mu.Unlock()
				}
			}
		},
		Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) {
			if e.CommandName != "find" || e.DatabaseName != db {
				return
			}
			ns, _ := e.Reply.Lookup("cursor", "ns").StringValueOK()
			id, ok := e.Reply.Lookup("cursor", "id").AsInt64OK()
			mu.Lock()
			first := !done && ns == db+"."+coll && ok && id != 0
			done = done || first
			mu.Unlock()
			if !first {
				return
			}
			err := killer.Database(db).RunCommand(context.Background(), bson.D{{Key: "killCursors", Value: coll}, {Key: "cursors", Value: bson.A{id}}}).Err()
			if err != nil {
				t.Errorf("killCursors %d on %s.%s: %v", id, db, coll, err)
			}
		},
	}
	c, err := mongo.Connect(options.Client().ApplyURI(srv.URI).SetServerSelectionTimeout(20 * time.Second).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c, func() []bson.Raw {
			mu.Lock()
			defer mu.Unlock()
			return append([]bson.Raw(nil), sent...)
		}, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return done
		}
}

// In the per-shard merge a shard whose _ids all sort after the other's
// waits, its cursor idle, while the other shard's documents are compared;
// past the server's cursor timeout its cursor is gone. Its cursor is killed
// here right after its first batch: the walk opens it again after the last
// _id it took (min/hint on the _id index, and skipping what it took already,
// since a server may return those again) and reports exactly the one
// missing document.
func TestVerify_ShardMerge_ReopensAWaitingShardsCursor(t *testing.T) {
	s0, s1, dst := testmongo.StartSource(t), testmongo.StartSource(t), testmongo.StartDest(t)
	sets := idSets()[:1] // Date _ids: shard 0 has the older half, shard 1 the newer
	load(t, "order", sets, []*mongo.Client{s0.Client(), s1.Client()}, dst.Client(), false)
	c1, finds, killed := killFirstCursor(t, s1, "order", "dates")
	v := &Verifier{Shards: []*mongo.Client{s0.Client(), c1}, Dst: dst.Client(), NS: allNamespaces(), Show: 10, batch: 16}
	res, err := v.Run(context.Background())
	checkOneMissing(t, "order", sets, res, err)
	if !killed() {
		t.Fatal("the waiting shard's cursor was never killed: the test proved nothing")
	}
	var reopened bson.Raw
	for _, f := range finds() {
		if _, err := f.LookupErr("min"); err == nil {
			reopened = f
		}
	}
	if reopened == nil {
		t.Fatalf("no find opened the cursor again after the last _id; finds sent: %v", finds())
	}
	// Shard 1's first batch held 16 documents; the walk took them all, the
	// 16th last, before the getMore that met the killed cursor.
	var held []int64
	for i, id := range sets[0].ids {
		if i >= len(sets[0].ids)/2 {
			held = append(held, int64(id.(bson.DateTime)))
		}
	}
	slices.Sort(held)
	if got := reopened.Lookup("min", "_id"); got.Type != bson.TypeDateTime || got.DateTime() != held[15] {
		t.Errorf("the re-opening find starts at %v, want the 16th _id of shard 1, %v", got, bson.DateTime(held[15]))
	}
	hint, _ := reopened.Lookup("hint").DocumentOK()
	if hint == nil || bson.Raw(hint).Lookup("_id").AsInt64() != 1 {
		t.Errorf("the re-opening find hints %v, want the _id index {_id: 1}", reopened.Lookup("hint"))
	}
}

// Sorted reads ask for the simple collation: a collection's default
// collation (MongoDB manual, "Collation": an operation without one uses the
// collection's) would order string _ids by locale, not by the bytes the
// comparator orders them by. The test server has no collations and answers
// NotImplemented, so this reads the option on the wire; the read then goes
// on without it (that server's only order is the simple one). A collection
// with a default collation also allows the sort to use disk: its _id index
// is in that collation's order, so the simple collation's sort runs in
// memory.
func TestVerify_SortedReadsAskForTheSimpleCollation(t *testing.T) {
	src, dst := testmongo.StartSource(t), testmongo.StartDest(t)
	ctx := context.Background()
	for _, c := range []*mongo.Client{src.Client(), dst.Client()} {
		if _, err := c.Database("coll").Collection("s").InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "B"}}, bson.D{{Key: "_id", Value: "a"}}}); err != nil {
			t.Fatal(err)
		}
	}
	sc, srcFinds := src.Recording("find")
	dc, dstFinds := dst.Recording("find")
	v := &Verifier{Src: sc, Dst: dc, NS: allNamespaces(), Show: 10}
	res, err := v.Run(ctx)
	if err != nil || len(res) != 1 || !res[0].OK() {
		t.Fatalf("verify: %v %+v", err, res)
	}
	for side, finds := range map[string][]bson.Raw{"source": srcFinds(), "destination": dstFinds()} {
		if len(finds) == 0 {
			t.Fatalf("%s: no find sent", side)
		}
		if loc, _ := finds[0].Lookup("collation", "locale").StringValueOK(); loc != "simple" {
			t.Errorf("%s: the sorted read's find asks for collation %v, want {locale: \"simple\"}: %s", side, finds[0].Lookup("collation"), finds[0])
		}
		if len(finds) > 1 {
			t.Logf("%s: the test server refused the collation option (NotImplemented); the read went on without it", side)
		}
	}

	// A collection with a default collation (its options as listCollections
	// reports them): the sort may use disk.
	sel := copier.Selected{SrcNS: "coll.s", DstNS: "coll.s", Options: doc(bson.D{{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}}}})}
	n := len(srcFinds())
	var r Result
	if _, err := v.documents(ctx, sel, v.source("coll", "s"), dc.Database("coll").Collection("s"), &r); err != nil {
		t.Fatal(err)
	}
	finds := srcFinds()[n:]
	if len(finds) == 0 || !finds[0].Lookup("allowDiskUse").Equal(val(t, true)) {
		t.Errorf("the sorted read of a collection with a default collation sent %v, want allowDiskUse: true", finds)
	}
}
