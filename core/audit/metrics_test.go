package audit_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	metricsmemory "github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/core/audit"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

func metric(m *metricsmemory.Meter, name string, labels ...string) float64 {
	v, _ := m.Value(name, labels...)
	return v
}

// TestMetrics: written entries, and entries dropped for each reason, are
// counted as Stats counts them; the queue depth follows the queue.
func TestMetrics(t *testing.T) {
	m := metricsmemory.New()
	s := &sink{}
	// No writer runs yet: the queue of two fills and stays full.
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{QueueSize: 2, Meter: m, Logger: slog.New(slog.DiscardHandler)})
	for _, r := range []string{"queue_full", "closed", "no_tenant", "write_failed"} {
		_, ok := m.Value("fm_audit_entries_dropped_total", r)
		assert.True(t, ok, "the %s series exists before any drop", r)
	}
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin}, ports.AuditEntry{Action: ports.AuditLogin}, ports.AuditEntry{Action: ports.AuditLogin})
	assert.Equal(t, 1.0, metric(m, "fm_audit_entries_dropped_total", "queue_full"))
	assert.Equal(t, 2.0, metric(m, "fm_audit_queue_depth"))
	assert.Zero(t, metric(m, "fm_audit_entries_written_total"))

	svc.Record(context.Background(), ports.AuditEntry{Action: ports.AuditLogin})
	assert.Equal(t, 1.0, metric(m, "fm_audit_entries_dropped_total", "no_tenant"))

	require.NoError(t, svc.Close()) // writes the two queued
	assert.Equal(t, 2.0, metric(m, "fm_audit_entries_written_total"))
	assert.Zero(t, metric(m, "fm_audit_queue_depth"))
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogout})
	assert.Equal(t, 1.0, metric(m, "fm_audit_entries_dropped_total", "closed"))
	assert.Equal(t, audit.Stats{Written: 2, Dropped: 3}, svc.Stats())

	// A log that refuses every try: the batch is counted as write_failed.
	failing := &sink{failing: -1}
	svc2, _ := start(t, failing, audit.Options{Meter: m})
	svc2.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin}, ports.AuditEntry{Action: ports.AuditLogin})
	require.NoError(t, svc2.Flush(context.Background()))
	assert.Equal(t, 2.0, metric(m, "fm_audit_entries_dropped_total", "write_failed"))
	assert.Equal(t, 2.0, metric(m, "fm_audit_entries_written_total"), "two services share the metric; nothing more was written")
	assert.Equal(t, int64(2), svc2.Stats().Lost)
}

// TestDepthCountsWhatTheWriterHolds: the queue-depth gauge counts the
// entries the writer has taken and not yet written with those waiting, as
// the queue's bound does: it reads the full queue while entries are
// dropped as queue_full.
func TestDepthCountsWhatTheWriterHolds(t *testing.T) {
	m := metricsmemory.New()
	s := &ctxSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{QueueSize: 100, BatchSize: 10, FlushInterval: time.Hour,
		Meter: m, Logger: slog.New(slog.DiscardHandler)})
	go svc.Run(context.Background())
	defer func() { close(s.release); _ = svc.Close() }()
	for range 50 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	<-s.entered // the writer holds the 50, writing their first batch
	assert.Equal(t, 50.0, metric(m, "fm_audit_queue_depth"))
	for range 60 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	assert.Equal(t, 10.0, metric(m, "fm_audit_entries_dropped_total", "queue_full"))
	assert.Equal(t, 100.0, metric(m, "fm_audit_queue_depth"))
}
