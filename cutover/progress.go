package cutover

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
)

// progressLine prints the wait's progress when it changes (at most every
// 2 s, at least every 10 s): where the applier is, the entries left and an
// ETA from the apply rate over the last 10 s.
type progressLine struct {
	out     io.Writer
	prefix  string // the shard, for a sharded source
	last    time.Time
	lastMsg string
	samples []rateSample
	rate    float64
}

type rateSample struct {
	at    time.Time
	total int64
}

func newProgressLine(out io.Writer) *progressLine { return &progressLine{out: out} }

func (l *progressLine) show(p position) {
	now := time.Now()
	if p.Live {
		l.samples = append(l.samples, rateSample{now, p.AppliedTotal})
		for len(l.samples) > 2 && now.Sub(l.samples[1].at) >= 10*time.Second {
			l.samples = l.samples[1:]
		}
		first := l.samples[0]
		if dt := now.Sub(first.at).Seconds(); dt >= 1 && p.AppliedTotal >= first.total {
			l.rate = float64(p.AppliedTotal-first.total) / dt
		}
	}
	msg := l.left(p)
	if since := now.Sub(l.last); since < 2*time.Second || (msg == l.lastMsg && since < 10*time.Second) {
		return
	}
	l.last, l.lastMsg = now, msg
	fmt.Fprintf(l.out, "cutover: %swaiting: %s\n", l.prefix, msg)
}

// left says what is left to apply.
func (l *progressLine) left(p position) string {
	var b strings.Builder
	switch {
	case !p.Live:
		b.WriteString("no running process reports progress (start sync or applier); ")
	case !p.Consistent:
		fmt.Fprintf(&b, "stage %s, the initial copy is not done or not yet passed; ", p.Stage)
	}
	fmt.Fprintf(&b, "applied through %s", oplog.FormatTS(p.Applied))
	if p.Left >= 0 {
		fmt.Fprintf(&b, ", %d entries left", p.Left)
		if p.Left > 0 && p.Live && l != nil && len(l.samples) > 1 {
			if l.rate > 0 {
				fmt.Fprintf(&b, ", ETA %s at %.0f entries/s", (time.Duration(float64(p.Left)/l.rate*1000) * time.Millisecond).Round(time.Second), l.rate)
			} else {
				b.WriteString(", nothing applied in the last 10 s")
			}
		}
	}
	return b.String()
}
