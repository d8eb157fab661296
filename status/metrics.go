package status

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricNamespace prefixes every metric: mongo_sync_*.
const metricNamespace = "mongo_sync"

// metrics are one recorder's Prometheus metrics (mongo_sync_*); the
// events that update them update its snapshot too (recorder.go).
type metrics struct {
	read         prometheus.Counter
	spooled      prometheus.Counter
	applied      prometheus.Counter
	batchSeconds prometheus.Histogram
	lag          *lagCollector
	spoolBytes   prometheus.Gauge
	retries      prometheus.Counter
	errors       *prometheus.CounterVec
	copied       *prometheus.CounterVec
	reapply      *prometheus.CounterVec
}

// newMetrics makes r's metrics, registered nowhere yet.
func newMetrics(r *Recorder) metrics {
	var m metrics
	f := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricNamespace, Name: name, Help: help})
	}
	m.read = f("entries_read_total", "Oplog entries read from the source.")
	m.spooled = f("entries_spooled_total", "Oplog entries appended to the spool.")
	m.applied = f("entries_applied_total", "Spooled entries applied to the destination.")
	m.retries = f("retries_total", "Operations retried after a retryable error (network, not primary, timeout).")
	m.batchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metricNamespace, Name: "apply_batch_seconds",
		Help: "Time to apply one batch and record its checkpoint.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)})
	m.lag = newLagCollector(r)
	m.spoolBytes = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricNamespace, Name: "spool_bytes", Help: "Bytes the spool holds on disk."})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricNamespace, Name: "errors_total",
		Help: "Errors by class: retryable (retried), conflict (unique index, replayed serially), fatal (stopped a stage)."}, []string{"class"})
	m.copied = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricNamespace, Name: "copied_docs_total",
		Help: "Documents copied by the initial copy."}, []string{"ns"})
	m.reapply = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricNamespace, Name: "reapply_noops_total",
		Help: "Replayed writes that met a newer destination state and were resolved by an oplog-application rule, by reason."}, []string{"reason"})
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.read, m.spooled, m.applied, m.retries, m.batchSeconds, m.lag, m.spoolBytes, m.errors, m.copied, m.reapply}
}

// Registry is the Prometheus registry behind /metrics.
func (r *Recorder) Registry() *prometheus.Registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reg
}

// Gather gathers the registry behind /metrics now (a sharded sync's
// shards replace it: see Shard).
func (r *Recorder) Gather() ([]*dto.MetricFamily, error) { return r.Registry().Gather() }

// lagCollector exports the lag and the entries behind as they are when
// /metrics is read, and not at all before they are known.
type lagCollector struct {
	r              *Recorder
	seconds, count *prometheus.Desc
}

func newLagCollector(r *Recorder) *lagCollector {
	return &lagCollector{
		r: r,
		seconds: prometheus.NewDesc(metricNamespace+"_lag_seconds",
			"How far the applier is behind what the source has written: now minus applied_through, 0 while caught up (as /status lag_ms). Absent before anything is known to be applied.", nil, nil),
		count: prometheus.NewDesc(metricNamespace+"_lag_entries",
			"Spooled entries the applier has not applied yet. Absent before both the reader's and the applier's positions are known.", nil, nil),
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.seconds; ch <- c.count }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	if lag, ok := c.r.Lag(); ok {
		ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.GaugeValue, lag.Seconds())
	}
	c.r.mu.Lock()
	rd, ap := c.r.snap.Reader, c.r.snap.Applier
	c.r.mu.Unlock()
	if rd != nil && ap != nil {
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(max(0, int64(rd.Seq)-int64(ap.Seq))))
	}
}
