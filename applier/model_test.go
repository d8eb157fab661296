package applier

// A model-based property test of translation: random documents and random
// update sequences, logged as MongoDB logs them, replayed through the real
// pipeline (oplog.bson -> reader -> spool -> applier) onto the test
// server. For a sequence S0 -E1-> S1 ... -En-> Sn the destination must end
// at Sn when E1..En is replayed over S0 and over a later state Sk (the
// catch-up after the copy and every restart do this). Only the end state is
// asserted, with BSON types kept and field order ignored.
//
//	go test -run TestModel ./applier/ -model.n=5000 -model.seed=42

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/applier/exec"
	"github.com/mongo-sync/mongo-sync/internal/bsonx"
	"github.com/mongo-sync/mongo-sync/internal/testmongo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

var (
	modelN     = flag.Int("model.n", 300, "model test: number of update sequences")
	modelSeed  = flag.Int64("model.seed", 0, "model test: seed (0: from the clock)")
	modelBatch = flag.Int("model.batch", 50, "model test: sequences replayed per pipeline run")
)

const (
	modelDB     = "model"
	modelStart  = "from_start" // replayed over S0
	modelLater  = "from_later" // replayed over Sk
	modelTSBase = 1700000000
)

type modelSeq struct {
	id      int32
	states  []bson.D // S0..Sn; nil: no document
	entries []bson.D // E1..En: op, o, o2
	from    int      // k of the later start state
}

func TestModel_ReplayConvergesFromAnyState(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("model: seed %d, %d sequences (rerun: -model.seed=%d -model.n=%d)", seed, *modelN, seed, *modelN)
	dst := testmongo.StartDest(t)
	client := dst.Client()
	g := &modelGen{r: rand.New(rand.NewSource(seed)), looseWrites: ignoresLooseEqualWrites(t, client)}
	if g.looseWrites {
		t.Log("model: the server ignores a write whose new value equals the old one loosely (numbers by value, field names ignored); no entry makes such a change")
	}
	seqs := make([]modelSeq, *modelN)
	for i := range seqs {
		seqs[i] = g.sequence(t, int32(i+1))
	}
	failed := 0
	for lo := 0; lo < len(seqs); lo += *modelBatch {
		hi := min(lo+*modelBatch, len(seqs))
		failed += modelRound(t, client, rand.New(rand.NewSource(seed+int64(lo))), seqs[lo:hi], seed, lo)
		if failed > 20 {
			t.Fatalf("model: seed %d: stopping after %d failed sequences", seed, failed)
		}
	}
	if failed > 0 {
		t.Errorf("model: seed %d: %d of %d sequences did not converge", seed, failed, len(seqs))
	}
}

// sequence generates S0, E1..En and checks, under mongod's rules, that each
// entry takes S(k-1) to S(k) and that replay from every state converges.
func (g *modelGen) sequence(t *testing.T, id int32) modelSeq {
	s := modelSeq{id: id}
	var cur bson.D
	if g.r.Intn(8) > 0 {
		cur = g.doc(id)
	}
	s.states = append(s.states, cur)
	o2 := bson.D{{Key: "_id", Value: id}}
	for n := 3 + g.r.Intn(10); len(s.entries) < n; {
		var e bson.D
		var want bson.D
		switch x := g.r.Intn(20); {
		case cur == nil:
			want = g.doc(id)
			e = bson.D{{Key: "op", Value: "i"}, {Key: "o", Value: want}}
		case x < 2:
			e = bson.D{{Key: "op", Value: "d"}, {Key: "o", Value: o2}}
		case x < 4:
			want = g.doc(id)
			if g.r.Intn(2) == 0 {
				want = g.mutate(cur)
			}
			e = bson.D{{Key: "op", Value: "u"}, {Key: "o", Value: want}, {Key: "o2", Value: o2}}
		case x < 12:
			want = g.mutate(cur)
			diff := g.v2Diff(cur, want)
			if len(diff) == 0 {
				continue
			}
			o := bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: diff}}
			e = bson.D{{Key: "op", Value: "u"}, {Key: "o", Value: o}, {Key: "o2", Value: o2}}
		default:
			e = bson.D{{Key: "op", Value: "u"}, {Key: "o", Value: g.v1Mods(cur)}, {Key: "o2", Value: o2}}
		}
		next := refApply(cur, e)
		if g.looseWrites && cur != nil && next != nil && looseChange(cur, next) {
			continue
		}
		if want != nil && modelCanon(next) != modelCanon(want) {
			t.Fatalf("model generator: E%d %s takes %s to %s, want %s", len(s.entries)+1, extJSON(e), modelCanon(cur), modelCanon(next), modelCanon(want))
		}
		s.entries = append(s.entries, e)
		s.states = append(s.states, next)
		cur = next
	}
	s.from = 1 + g.r.Intn(len(s.entries))
	final := modelCanon(cur)
	for k, st := range s.states {
		got := st
		for _, e := range s.entries {
			got = refApply(got, e)
		}
		if modelCanon(got) != final {
			t.Fatalf("model generator: under mongod's rules replay from S%d ends at %s, not Sn\n%s", k, modelCanon(got), s.describe())
		}
	}
	return s
}

// modelRound replays one batch of sequences in one pipeline run, over S0
// (collection from_start) and over Sk (from_later). When the applier stops
// on an entry, that sequence is reported and the round runs again without
// it. It returns the number of sequences that failed.
func modelRound(t *testing.T, client *mongo.Client, r *rand.Rand, seqs []modelSeq, seed int64, round int) int {
	ctx := context.Background()
	active := append([]modelSeq(nil), seqs...)
	failed := 0
	var db *mongo.Database
	for attempt := 0; ; attempt++ {
		// a database per run: nothing of an earlier, stopped run is left in it
		dbName := fmt.Sprintf("%s%d_%d", modelDB, round, attempt)
		db = client.Database(dbName)
		defer db.Drop(ctx)
		for _, c := range []struct {
			coll  string
			state func(s modelSeq) bson.D
		}{{modelStart, func(s modelSeq) bson.D { return s.states[0] }}, {modelLater, func(s modelSeq) bson.D { return s.states[s.from] }}} {
			var ds []any
			for _, s := range active {
				if d := c.state(s); d != nil {
					ds = append(ds, d)
				}
			}
			if len(ds) > 0 {
				if _, err := db.Collection(c.coll).InsertMany(ctx, ds); err != nil {
					t.Fatalf("model: load %s: %v", c.coll, err)
				}
			}
		}
		oplog, owner := modelOplog(t, r, active, dbName)
		err := replay(t, client, oplog)
		if err == nil {
			break
		}
		var ee *exec.EntryError
		if !errors.As(err, &ee) {
			t.Fatalf("model: seed %d: replay: %v", seed, err)
		}
		at, ok := owner[ee.TS]
		if !ok {
			t.Fatalf("model: seed %d: the applier stopped on an entry the test did not write: %v", seed, err)
		}
		s := active[at.seq]
		t.Errorf("model: seed %d: the applier stopped on E%d of sequence %d, replayed over %s: %v\n%s",
			seed, at.entry+1, s.id, at.coll, err, s.describe())
		failed++
		active = append(active[:at.seq], active[at.seq+1:]...)
		if failed > 20 {
			return failed
		}
	}
	got := map[string]map[int32]bson.D{modelStart: {}, modelLater: {}}
	for coll, m := range got {
		cur, err := db.Collection(coll).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			var d bson.D
			if err := bson.Unmarshal(cur.Current, &d); err != nil {
				t.Fatal(err)
			}
			id, _ := lookup(d, "_id")
			m[id.(int32)] = d
		}
		if err := cur.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range active {
		want := modelCanon(s.states[len(s.states)-1])
		var bad []string
		for _, coll := range []string{modelStart, modelLater} {
			d, ok := got[coll][s.id]
			var have string
			if ok {
				have = modelCanon(d)
			} else {
				have = modelCanon(nil)
			}
			if have != want {
				from := "S0"
				if coll == modelLater {
					from = fmt.Sprintf("S%d", s.from)
				}
				bad = append(bad, fmt.Sprintf("  replayed over %s, got %s", from, have))
			}
		}
		if len(bad) > 0 {
			failed++
			t.Errorf("model: seed %d: sequence %d did not converge to S%d = %s\n%s\n%s",
				seed, s.id, len(s.entries), want, strings.Join(bad, "\n"), s.describe())
		}
	}
	return failed
}

type modelAt struct {
	seq, entry int
	coll       string
}

// modelOplog interleaves the sequences' entries at random (each sequence
// in its own order), each entry once for from_start and once for
// from_later, as oplog entries with increasing ts.
func modelOplog(t *testing.T, r *rand.Rand, seqs []modelSeq, dbName string) ([]bson.Raw, map[bson.Timestamp]modelAt) {
	next := make([]int, len(seqs))
	var order []int
	for i, s := range seqs {
		for range s.entries {
			order = append(order, i)
		}
	}
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	owner := map[bson.Timestamp]modelAt{}
	var out []bson.Raw
	n := uint32(0)
	for _, i := range order {
		k := next[i]
		next[i]++
		for _, coll := range []string{modelStart, modelLater} {
			n++
			ts := bson.Timestamp{T: modelTSBase + n/1000, I: n%1000 + 1}
			owner[ts] = modelAt{seq: i, entry: k, coll: coll}
			e := seqs[i].entries[k]
			op, _ := lookup(e, "op")
			o, _ := lookup(e, "o")
			d := bson.D{{Key: "op", Value: op}, {Key: "ns", Value: dbName + "." + coll}, {Key: "o", Value: o}}
			if o2, ok := lookup(e, "o2"); ok {
				d = append(d, bson.E{Key: "o2", Value: o2})
			}
			d = append(d, bson.E{Key: "ts", Value: ts}, bson.E{Key: "t", Value: int64(1)}, bson.E{Key: "v", Value: int64(2)},
				bson.E{Key: "wall", Value: bson.NewDateTimeFromTime(time.Unix(int64(ts.T), int64(ts.I)*1e6))})
			raw, err := bson.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, raw)
		}
	}
	return out, owner
}

func (s modelSeq) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  S0: %s\n", modelCanon(s.states[0]))
	for k, e := range s.entries {
		fmt.Fprintf(&b, "  E%d: %s\n  S%d: %s\n", k+1, extJSON(e), k+1, modelCanon(s.states[k+1]))
	}
	fmt.Fprintf(&b, "  later start state: S%d", s.from)
	return b.String()
}

// modelCanon renders a document state with types kept and keys sorted.
func modelCanon(d bson.D) string {
	if d == nil {
		return "(no document)"
	}
	return bsonx.CanonicalD(d, true)
}

func extJSON(d bson.D) string {
	b, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		return fmt.Sprint(d)
	}
	return string(b)
}
