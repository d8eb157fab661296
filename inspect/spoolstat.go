package inspect

import (
	"time"

	"github.com/mongo-sync/mongo-sync/internal/oplog"
	"github.com/mongo-sync/mongo-sync/spool"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// SegmentReport is one sealed segment in a SpoolReport.
type SegmentReport struct {
	File     string `json:"file"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Entries  uint64 `json:"entries"`
	Bytes    int64  `json:"bytes"`
	FirstTS  string `json:"first_ts,omitempty"`
	LastTS   string `json:"last_ts,omitempty"`
	Error    string `json:"error,omitempty"`
}

// SpoolReport is the spool stat command's report: the spool's segments,
// sizes, seq and ts ranges and ages.
type SpoolReport struct {
	Dir            string          `json:"dir"`
	NotStarted     bool            `json:"not_started,omitempty"` // no spool directory
	Segments       []SegmentReport `json:"segments"`
	Gaps           []string        `json:"gaps,omitempty"`
	Bytes          int64           `json:"bytes"`
	Entries        uint64          `json:"entries_sealed"`
	OpenSegment    string          `json:"open_segment,omitempty"`
	OpenEntries    uint64          `json:"open_entries"`
	OpenError      string          `json:"open_error,omitempty"` // a stopped writer's open segment cannot be read
	WriterRunning  bool            `json:"writer_running"`
	Ended          bool            `json:"ended"`
	OldestTS       string          `json:"oldest_ts,omitempty"`
	NewestTS       string          `json:"newest_ts,omitempty"`
	OldestAgeSec   int64           `json:"oldest_age_s"`
	NewestAgeSec   int64           `json:"newest_age_s"`
	DamagedSegment int             `json:"damaged_segments"`
}

// NewSpoolReport is st as a report, its ages taken at now.
func NewSpoolReport(st spool.Stat, now time.Time) SpoolReport {
	r := SpoolReport{Dir: st.Dir, Bytes: st.Bytes, Entries: st.Entries, WriterRunning: st.WriterRunning,
		Ended: st.Ended, OldestTS: fmtTSOrEmpty(st.OldestTS), NewestTS: fmtTSOrEmpty(st.NewestTS),
		OldestAgeSec: int64(spool.Age(st.OldestTS, now).Seconds()), NewestAgeSec: int64(spool.Age(st.NewestTS, now).Seconds()),
		DamagedSegment: st.Damaged, Segments: []SegmentReport{}}
	for _, s := range st.Segments {
		sr := SegmentReport{File: s.Name(), FirstSeq: s.Segment.First, LastSeq: s.Segment.Last, Entries: s.Entries, Bytes: s.Size,
			FirstTS: fmtTSOrEmpty(s.FirstTS), LastTS: fmtTSOrEmpty(s.LastTS)}
		if s.Err != nil {
			sr.Error = s.Err.Error()
		}
		r.Segments = append(r.Segments, sr)
	}
	for _, g := range st.Gaps {
		r.Gaps = append(r.Gaps, g.Error())
	}
	if st.Writer != nil {
		r.OpenSegment, r.OpenEntries = st.Writer.Segment, st.Writer.Entries
	}
	if st.OpenErr != nil {
		r.OpenError = st.OpenErr.Error()
	}
	return r
}

func fmtTSOrEmpty(ts bson.Timestamp) string {
	if ts.IsZero() {
		return ""
	}
	return oplog.FormatTS(ts)
}
