package gate

import (
	"context"
	"testing"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/bsontest"
	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/internal/testlog"
	"github.com/mongo-sync/mongo-sync/spool"
	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Unit tests of the cross-shard rules (cluster.go): pure logic, no server.

func quietLog() logrus.FieldLogger { return testlog.Quiet() }

func uuid(b byte) []byte {
	u := make([]byte, 16)
	for i := range u {
		u[i] = b
	}
	return u
}

func entry(ts uint32, op, ns string, ui []byte, o bson.D) bson.D {
	e := bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700200000 + ts, I: 1}}, {Key: "t", Value: int64(1)},
		{Key: "op", Value: op}, {Key: "ns", Value: ns}}
	if ui != nil {
		e = append(e, bson.E{Key: "ui", Value: bson.Binary{Subtype: 4, Data: ui}})
	}
	return append(e, bson.E{Key: "o", Value: o})
}

func gateTS(t uint32) bson.Timestamp { return bson.Timestamp{T: 1700200000 + t, I: 1} }

func gateEntries(t *testing.T, ds ...bson.D) []spool.Entry {
	es := make([]spool.Entry, len(ds))
	for i, d := range ds {
		r := bsontest.Raw(t, d)
		es[i] = spool.Entry{Seq: uint64(i + 1), TS: rawTS(r), Raw: r}
	}
	return es
}

func raws(es []spool.Entry) []bson.Raw {
	out := make([]bson.Raw, len(es))
	for i, e := range es {
		out[i] = e.Raw
	}
	return out
}

// admitNow is admit's decision without waiting: how many entries of es may
// go; when none, it records the hold as admit does.
func admitNow(g *ShardGate, es []spool.Entry) int {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	ddl := g.scan(es)
	n, _, _ := g.admissible(es, ddl)
	if n == 0 {
		g.done = maxTS(g.done, prevTS(es[0].TS))
	}
	return n
}

func twoShards(t *testing.T) (*Cluster, *ShardGate, *ShardGate) {
	c := NewCluster(quietLog())
	a, b := c.Shard("a", nil), c.Shard("b", nil)
	a.Start(bson.Timestamp{}, bson.Timestamp{}, false)
	b.Start(bson.Timestamp{}, bson.Timestamp{}, false)
	return c, a, b
}

// A drop on both shards, writes before and after on each: every step is
// the only order the rules allow.
func TestCluster_DropOnBothShards(t *testing.T) {
	_, a, b := twoShards(t)
	u := uuid(1)
	as := gateEntries(t,
		entry(0, "i", "db.c", u, bson.D{{Key: "_id", Value: 1}}),
		entry(10, "c", "db.$cmd", u, bson.D{{Key: "drop", Value: "c"}}),
		entry(20, "i", "db.c", uuid(2), bson.D{{Key: "_id", Value: 10}}))
	bs := gateEntries(t,
		entry(5, "i", "db.c", u, bson.D{{Key: "_id", Value: 2}}),
		entry(11, "c", "db.$cmd", u, bson.D{{Key: "drop", Value: "c"}}),
		entry(22, "i", "db.c", uuid(2), bson.D{{Key: "_id", Value: 11}}))
	a.Spooled(raws(as))
	b.Spooled(raws(bs))
	a.Ended() // file sources: nothing more comes
	b.Ended()

	steps := []struct {
		g    *ShardGate
		es   []spool.Entry
		want int
	}{
		{a, as, 1},     // insert 0: below B's pending drop at 11 and its readThrough
		{a, as[1:], 0}, // A's drop at 10 waits: B has not applied its insert at 5
		{b, bs, 1},     // B's insert at 5 (below A's pending drop at 10)
		{b, bs[1:], 0}, // B's drop at 11 waits: A has not applied its drop at 10
		{a, as[1:], 1}, // A's drop: B has applied everything before 11
		{a, as[2:], 0}, // A's insert at 20 waits for B's drop at 11
		{b, bs[1:], 1}, // B's drop: A holds 20, all before applied
		{a, as[2:], 1},
		{b, bs[2:], 1},
	}
	for i, s := range steps {
		n := admitNow(s.g, s.es)
		if n != s.want {
			t.Fatalf("step %d (shard %s, ts %s): admitted %d, want %d", i, s.g.name, oplog.FormatTS(s.es[0].TS), n, s.want)
		}
		if n > 0 {
			s.g.Applied(s.es[n-1].TS)
		}
	}
	if len(a.pending)+len(b.pending) != 0 {
		t.Errorf("pending left: a %v b %v", a.pending, b.pending)
	}
}

// The same DDL at the same ts on two shards: the shard added first goes
// first, the other after it; neither deadlocks.
func TestCluster_SameTSTie(t *testing.T) {
	_, a, b := twoShards(t)
	d := entry(10, "c", "db.$cmd", nil, bson.D{{Key: "drop", Value: "c"}})
	as, bs := gateEntries(t, d), gateEntries(t, d)
	a.Spooled(raws(as))
	b.Spooled(raws(bs))
	if n := admitNow(b, bs); n != 0 {
		t.Fatalf("b's copy went first")
	}
	if n := admitNow(a, as); n != 1 {
		t.Fatalf("a's copy held")
	}
	a.Applied(as[0].TS)
	if n := admitNow(b, bs); n != 1 {
		t.Fatalf("b's copy held after a's")
	}
}

// A shard that has not been started (no Appender, no applier) holds the
// others: its spool may hold DDL entries no one has registered.
func TestCluster_UnknownShardHolds(t *testing.T) {
	c := NewCluster(quietLog())
	a, b := c.Shard("a", nil), c.Shard("b", nil)
	a.Start(bson.Timestamp{}, bson.Timestamp{}, false)
	b.through = gateTS(100)
	es := gateEntries(t, entry(1, "i", "db.c", nil, bson.D{{Key: "_id", Value: 1}}))
	if n := admitNow(a, es); n != 0 {
		t.Fatalf("admitted past a shard not known")
	}
	b.Start(bson.Timestamp{}, bson.Timestamp{}, false)
	if n := admitNow(a, es); n != 1 {
		t.Fatalf("held by a known shard read through 100")
	}
}

// Entries a spool held before the gate (a restart): other shards do not
// pass them until the shard's applier has read them.
func TestCluster_SpoolBeforeGateIsCapped(t *testing.T) {
	c := NewCluster(quietLog())
	a, b := c.Shard("a", nil), c.Shard("b", nil)
	a.Start(bson.Timestamp{}, bson.Timestamp{}, false)
	b.Start(gateTS(5), gateTS(50), false) // checkpoint at 5, spool up to 50
	b.IdleSpooled(time.Now(), gateTS(60), true)
	if rt := c.Snapshot()[1].ReadThrough; rt != gateTS(5) {
		t.Fatalf("b's readThrough %s, want its checkpoint 5 until it reads its spool", oplog.FormatTS(rt))
	}
	bs := gateEntries(t,
		entry(30, "c", "db.$cmd", nil, bson.D{{Key: "drop", Value: "c"}}),
		entry(50, "i", "db.c", nil, bson.D{{Key: "_id", Value: 1}}))
	admitNow(b, bs) // read: the drop at 30 is pending now
	lim, _, _ := c.limit(a)
	if lim != prevTS(gateTS(30)) {
		t.Fatalf("a's limit %s, want just before b's drop at 30", oplog.FormatTS(lim))
	}
}

// An idle report moves readThrough only when everything read was spooled;
// the clock rule moves it to the shard's clock at the query, less the
// margin, less a tick; the report goes on to Next.
func TestCluster_IdleReports(t *testing.T) {
	c := NewCluster(quietLog())
	a := c.Shard("a", nil)
	a.Start(bson.Timestamp{}, bson.Timestamp{}, false)
	next := &idleRecorder{}
	a.Next = next
	a.IdleSpooled(time.Now(), gateTS(10), false)
	if a.ReadThrough() != (bson.Timestamp{}) {
		t.Fatalf("moved by a report made with entries not yet spooled")
	}
	a.IdleSpooled(time.Now(), gateTS(10), true)
	if a.ReadThrough() != gateTS(10) {
		t.Fatalf("readThrough %s, want 10", oplog.FormatTS(a.ReadThrough()))
	}
	a.Idle(time.Now(), gateTS(20)) // plain report: spooled unknown
	if a.ReadThrough() != gateTS(10) || next.n != 3 {
		t.Fatalf("readThrough %s, next heard %d", oplog.FormatTS(a.ReadThrough()), next.n)
	}

	opened := time.Unix(1700200100, 700e6)
	cases := []struct {
		offset, margin time.Duration
		want           bson.Timestamp
	}{
		{0, 0, bson.Timestamp{T: 1700200099, I: ^uint32(0)}},
		{0, 2 * time.Second, bson.Timestamp{T: 1700200097, I: ^uint32(0)}},
		{3 * time.Second, 2 * time.Second, bson.Timestamp{T: 1700200100, I: ^uint32(0)}},
		{-500 * time.Millisecond, 0, bson.Timestamp{T: 1700200099, I: ^uint32(0)}},
		{-time.Second, 0, bson.Timestamp{T: 1700200098, I: ^uint32(0)}},
	}
	for _, tc := range cases {
		if got := idleBound(opened, tc.offset, tc.margin); got != tc.want {
			t.Errorf("idleBound(offset %v, margin %v) = %s, want %s", tc.offset, tc.margin, oplog.FormatTS(got), oplog.FormatTS(tc.want))
		}
	}
}

// The clock probe: its offset is the conservative bound (remote minus the
// time the answer arrived); a replica set turns the rule off.
func TestCluster_ClockProbe(t *testing.T) {
	c := NewCluster(quietLog())
	now := time.Now()
	g := c.Shard("a", func(context.Context) (time.Time, time.Time, time.Time, error) {
		return now.Add(10 * time.Second), now, now.Add(time.Second), nil
	})
	g.probeClock()
	if g.clk.offset != 9*time.Second {
		t.Fatalf("offset %v, want 9s (remote - received)", g.clk.offset)
	}
	g.clk.tried = time.Now() // no background probe
	want := idleBound(now, 9*time.Second, c.ClockMargin)
	if got := g.clockBound(now); got != want {
		t.Fatalf("clockBound %s, want %s", oplog.FormatTS(got), oplog.FormatTS(want))
	}
	off := c.Shard("rs", func(context.Context) (time.Time, time.Time, time.Time, error) {
		return time.Time{}, now, now, ErrNoClockRule
	})
	off.probeClock()
	if !off.clk.off || !off.clockBound(now).IsZero() {
		t.Fatalf("clock rule not off for a replica set")
	}

	// Under the clock rule an old cursor's idle report asks for a fresh
	// cursor (its opening time bounds the shard); a new one does not, nor
	// does any report where the rule is off.
	if !g.IdleSpooled(time.Now().Add(-5*time.Second), bson.Timestamp{}, true) {
		t.Errorf("an idle report of a 5 s old cursor did not ask for a re-open")
	}
	if g.IdleSpooled(time.Now(), bson.Timestamp{}, true) {
		t.Errorf("an idle report of a new cursor asked for a re-open")
	}
	if off.IdleSpooled(time.Now().Add(-5*time.Second), bson.Timestamp{}, true) {
		t.Errorf("a replica set's idle report asked for a re-open")
	}
}

type idleRecorder struct{ n int }

func (r *idleRecorder) Idle(time.Time, bson.Timestamp) bool { r.n++; return false }

func TestIsDDL(t *testing.T) {
	u := uuid(1)
	cases := []struct {
		d    bson.D
		want bool
	}{
		{entry(1, "i", "db.c", u, bson.D{{Key: "_id", Value: 1}}), false},
		{entry(1, "c", "db.$cmd", u, bson.D{{Key: "drop", Value: "c"}}), true},
		{entry(1, "c", "db.$cmd", nil, bson.D{{Key: "dropDatabase", Value: 1}}), true},
		{entry(1, "c", "admin.$cmd", u, bson.D{{Key: "renameCollection", Value: "db.c"}, {Key: "to", Value: "db.d"}}), true},
		{entry(1, "c", "db.$cmd", u, bson.D{{Key: "startIndexBuild", Value: "c"}}), false},
		{entry(1, "c", "db.c", u, bson.D{{Key: "dbCheck", Value: "db.c"}, {Key: "type", Value: "batch"}}), false},
		{entry(1, "c", "db.c", u, bson.D{{Key: "modifyCollectionShardingIndexCatalog", Value: "db.c"}}), false},
		{entry(1, "c", "db.$cmd", u, bson.D{{Key: "commitIndexBuild", Value: "c"}}), true},
		{entry(1, "c", "admin.$cmd", nil, bson.D{{Key: "commitTransaction", Value: 1}}), false},
		{entry(1, "c", "admin.$cmd", nil, bson.D{{Key: "applyOps", Value: bson.A{
			bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "db.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: 1}}}}}}}), false},
		{entry(1, "c", "admin.$cmd", nil, bson.D{{Key: "applyOps", Value: bson.A{
			bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: "db.$cmd"}, {Key: "o", Value: bson.D{{Key: "create", Value: "x"}}}}}}}), true},
		// A participant's copy of a sharded DDL, a resharding recipient's
		// rename: barriers too (resharding_test.go).
		{append(entry(1, "c", "db.$cmd", u, bson.D{{Key: "drop", Value: "c"}}), bson.E{Key: "fromMigrate", Value: true}), true},
		{append(entry(1, "c", "db.$cmd", u, bson.D{{Key: "startIndexBuild", Value: "c"}}), bson.E{Key: "fromMigrate", Value: true}), false},
		{append(entry(1, "i", "db.c", u, bson.D{{Key: "_id", Value: 1}}), bson.E{Key: "fromMigrate", Value: true}), false},
		{entry(1, "n", "", nil, bson.D{{Key: "msg", Value: "x"}}), false},
	}
	for i, tc := range cases {
		if got := isDDL(bsontest.Raw(t, tc.d)); got != tc.want {
			t.Errorf("case %d: isDDL = %v, want %v", i, got, tc.want)
		}
	}
}

// admit waits without polling for a change, and returns once another
// shard moves.
func TestCluster_AdmitWakes(t *testing.T) {
	_, a, b := twoShards(t)
	es := gateEntries(t, entry(10, "i", "db.c", nil, bson.D{{Key: "_id", Value: 1}}))
	got := make(chan int, 1)
	go func() {
		n, _ := a.Admit(context.Background(), es)
		got <- n
	}()
	b.Spooled(raws(gateEntries(t, entry(12, "i", "db.c", nil, bson.D{{Key: "_id", Value: 2}}))))
	if n := <-got; n != 1 {
		t.Fatalf("admitted %d", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := a.Admit(ctx, gateEntries(t, entry(20, "i", "db.c", nil, bson.D{{Key: "_id", Value: 3}}))); n != 0 || err == nil {
		t.Fatalf("admit after ctx's end: %d, %v", n, err)
	}
}
