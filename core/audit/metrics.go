package audit

import "github.com/framework-m/framework-m/ports"

// The audit trail's metrics; the reason label takes a fixed set of values.
const (
	metricWritten = "fm_audit_entries_written_total"
	metricDropped = "fm_audit_entries_dropped_total"
	metricDepth   = "fm_audit_queue_depth"
)

// Why entries are dropped: the values of fm_audit_entries_dropped_total's
// reason label.
const (
	// dropQueueFull: the entry found the queue full (the log is slower
	// than the app, or down).
	dropQueueFull = "queue_full"
	// dropClosed: the entry came after the trail was closed (shutdown).
	dropClosed = "closed"
	// dropNoTenant: the entry had no tenant, which no log could store.
	dropNoTenant = "no_tenant"
	// dropWriteFailed: the entry was in a batch the log refused every time
	// it was tried (Stats.Lost).
	dropWriteFailed = "write_failed"
)

// metrics are the trail's instruments.
type metrics struct {
	written ports.Counter
	dropped ports.Counter
	depth   ports.Gauge
}

func newMetrics(m ports.Meter) metrics {
	m = ports.MeterOrNop(m)
	ms := metrics{
		written: m.Counter(metricWritten, "Audit entries the audit log stored."),
		dropped: m.Counter(metricDropped,
			"Audit entries not stored, by reason (queue_full, closed: recorded after shutdown began, no_tenant, write_failed: the log refused their batch every time).",
			"reason"),
		depth: m.Gauge(metricDepth, "Audit entries waiting in this instance's queue for the writer."),
	}
	ms.written.Add(0)
	for _, r := range []string{dropQueueFull, dropClosed, dropNoTenant, dropWriteFailed} {
		ms.dropped.Add(0, r) // every series exists from the start
	}
	return ms
}
