package copier

import (
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Progress reports the copy: bars on a terminal, log lines elsewhere.
type Progress interface {
	Add(ns string, estimatedDocs int64)
	Inc(ns string, docs, bytes int64)
	Done(ns string)
	Wait()
}

// NewProgress shows bars on out when it is a terminal, else logs every
// interval.
func NewProgress(out io.Writer, terminal bool, log logrus.FieldLogger, interval time.Duration) Progress {
	if terminal {
		return &bars{p: mpb.New(mpb.WithOutput(out), mpb.WithWidth(40)), bars: map[string]*mpb.Bar{}, totals: map[string]int64{}}
	}
	l := &logProgress{log: log, colls: map[string]*collStat{}, stop: make(chan struct{})}
	go l.loop(interval)
	return l
}

type bars struct {
	p      *mpb.Progress
	mu     sync.Mutex
	bars   map[string]*mpb.Bar
	totals map[string]int64
}

func (b *bars) Add(ns string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.totals[ns] = total
	b.bars[ns] = b.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(ns, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d docs", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.AverageSpeed(0, "%.0f docs/s", decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
	)
}

func (b *bars) bar(ns string) *mpb.Bar {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bars[ns]
}

func (b *bars) Inc(ns string, docs, _ int64) {
	b.mu.Lock()
	bar := b.bars[ns]
	if bar != nil && bar.Current()+docs > b.totals[ns] {
		// The count was an estimate: grow the bar rather than overflow it.
		b.totals[ns] = bar.Current() + docs
		bar.SetTotal(b.totals[ns], false)
	}
	b.mu.Unlock()
	if bar != nil {
		bar.IncrInt64(docs)
	}
}

func (b *bars) Done(ns string) {
	if bar := b.bar(ns); bar != nil {
		bar.SetTotal(-1, true)
	}
}

func (b *bars) Wait() { b.p.Wait() }

// Above returns a writer for log lines: they print above the bars while the
// bars run (rather than through them, when both share a terminal), and to
// fallback once the bars are done.
func (b *bars) Above(fallback io.Writer) io.Writer { return aboveBars{b.p, fallback} }

type aboveBars struct{ bars, fallback io.Writer }

func (w aboveBars) Write(p []byte) (int, error) {
	if n, err := w.bars.Write(p); err == nil {
		return n, nil
	}
	return w.fallback.Write(p)
}

type collStat struct {
	total, docs, bytes int64
	done               bool
}

type logProgress struct {
	log   logrus.FieldLogger
	mu    sync.Mutex
	colls map[string]*collStat
	start time.Time
	stop  chan struct{}
	once  sync.Once
}

func (l *logProgress) Add(ns string, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	l.colls[ns] = &collStat{total: total}
}

func (l *logProgress) Inc(ns string, docs, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.colls[ns]; s != nil {
		s.docs += docs
		s.bytes += bytes
	}
}

func (l *logProgress) Done(ns string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.colls[ns]; s != nil {
		s.done = true
	}
}

func (l *logProgress) loop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.report()
		}
	}
}

func (l *logProgress) report() {
	l.mu.Lock()
	defer l.mu.Unlock()
	secs := time.Since(l.start).Seconds()
	for ns, s := range l.colls {
		if s.done {
			continue
		}
		f := logrus.Fields{"ns": ns, "docs": s.docs, "of": s.total, "bytes": s.bytes}
		if secs > 0 {
			rate := float64(s.docs) / secs
			f["docs_per_s"] = int64(rate)
			if rate > 0 && s.total > s.docs {
				f["eta"] = time.Duration(float64(s.total-s.docs) / rate * float64(time.Second)).Truncate(time.Second).String()
			}
		}
		l.log.WithFields(f).Info("copy progress")
	}
}

func (l *logProgress) Wait() { l.once.Do(func() { close(l.stop) }) }

// Discard reports nothing (tests, benchmarks).
type Discard struct{}

func (Discard) Add(string, int64)        {}
func (Discard) Inc(string, int64, int64) {}
func (Discard) Done(string)              {}
func (Discard) Wait()                    {}
