package email_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/emailqueue/memory"
	metricsmemory "github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/ports"
)

func meteredService(t *testing.T, s *sender, m ports.Meter, q ports.EmailQueue, o email.ProcessorOptions) *email.Service {
	t.Helper()
	o.RetryBase, o.RetryMax = time.Millisecond, 2*time.Millisecond
	if o.PollInterval == 0 {
		o.PollInterval = 10 * time.Millisecond
	}
	return email.New(q, s, nil, email.Options{
		From: ports.EmailAddress{Address: "app@example.com"}, MaxRetries: 3, Processor: o, Meter: m,
	})
}

func value(t *testing.T, m *metricsmemory.Meter, name string, labels ...string) float64 {
	t.Helper()
	v, _ := m.Value(name, labels...)
	return v
}

// TestSendMetrics: each attempt counts once by its result (a temporary
// failure tried again, a send, a rejection) and is timed.
func TestSendMetrics(t *testing.T) {
	m := metricsmemory.New()
	s := &sender{script: []error{errBusy}}
	svc := meteredService(t, s, m, memory.New(), email.ProcessorOptions{})
	ctx := ctxFor("t1")
	for _, r := range []string{"sent", "retry", "failed"} {
		v, ok := m.Value("fm_email_send_total", r)
		assert.True(t, ok, "the %s series exists before any email", r)
		assert.Zero(t, v)
	}

	e, err := svc.QueueEmail(ctx, simple("retried then sent"))
	require.NoError(t, err)
	_, err = svc.Processor().ProcessQueue(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1.0, value(t, m, "fm_email_send_total", "retry"))
	assert.Zero(t, value(t, m, "fm_email_send_total", "sent"))
	require.Eventually(t, func() bool {
		_, _ = svc.Processor().ProcessQueue(context.Background())
		got, err := svc.Queue().Get(ctx, e.ID)
		return err == nil && got.Status == ports.EmailSent
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1.0, value(t, m, "fm_email_send_total", "sent"))
	assert.Equal(t, 1.0, value(t, m, "fm_email_send_total", "retry"))

	s.mu.Lock()
	s.script = []error{fmt.Errorf("550 no such user: %w", ports.ErrEmailRejected)}
	s.mu.Unlock()
	rejected, err := svc.QueueEmail(ctx, simple("rejected"))
	require.NoError(t, err)
	got, err := svc.SendQueuedEmail(ctx, rejected.ID)
	require.NoError(t, err)
	assert.Equal(t, ports.EmailFailed, got.Status)
	assert.Equal(t, 1.0, value(t, m, "fm_email_send_total", "failed"))
	assert.Equal(t, 1.0, value(t, m, "fm_email_send_total", "sent"))

	count, _, ok := m.HistogramValue("fm_email_send_duration_seconds")
	require.True(t, ok)
	assert.EqualValues(t, 3, count, "every attempt is timed")
	assert.Equal(t, 1, m.Series("fm_email_send_duration_seconds"))
}

// countingQueue counts the Depth calls of a memory queue.
type countingQueue struct {
	*memory.Queue
	calls atomic.Int64
}

func (q *countingQueue) Depth(ctx context.Context) (int64, error) {
	q.calls.Add(1)
	return q.Queue.Depth(ctx)
}

// TestQueueDepthGauge: Run reports the emails waiting in every tenant as
// soon as it starts (then every 15 s, not per poll); without a Meter that
// records, the queue is not asked.
func TestQueueDepthGauge(t *testing.T) {
	m := metricsmemory.New()
	q := &countingQueue{Queue: memory.New()}
	svc := meteredService(t, &sender{}, m, q, email.ProcessorOptions{Workers: 2, PollInterval: time.Millisecond})
	later := simple("later")
	later.SendAfter = time.Now().Add(time.Hour)
	for _, tenant := range []string{"t1", "t2", "t2"} {
		_, err := svc.QueueEmail(ctxFor(tenant), later)
		require.NoError(t, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	require.Eventually(t, func() bool {
		v, ok := m.Value("fm_email_queue_depth")
		return ok && v == 3
	}, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // dozens of worker polls
	stop()
	<-done
	assert.EqualValues(t, 1, q.calls.Load(), "one count at start, not one per poll")

	for _, meter := range []ports.Meter{nil, ports.NopMeter{}} {
		q := &countingQueue{Queue: memory.New()}
		svc := meteredService(t, &sender{}, meter, q, email.ProcessorOptions{Workers: 1})
		runCtx, stop := context.WithTimeout(context.Background(), 30*time.Millisecond)
		svc.Run(runCtx)
		stop()
		assert.Zero(t, q.calls.Load(), "metrics off (%T): the queue is not counted", meter)
	}
}
