package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	metricsmemory "github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/core/notify"
)

func metric(m *metricsmemory.Meter, name string, labels ...string) float64 {
	v, _ := m.Value(name, labels...)
	return v
}

// TestStreamMetrics: the connections gauge follows the streams opened and
// closed; refusals and closes are counted by reason, never by user.
func TestStreamMetrics(t *testing.T) {
	m := metricsmemory.New()
	t.Run("streams", func(t *testing.T) {
		f := newFixture(t, nil, notify.Options{MaxConnectionsPerUser: 2, Meter: m})
		v, ok := m.Value("fm_websocket_connections")
		require.True(t, ok, "the gauge exists before any stream")
		assert.Zero(t, v)

		ann := as("t", "ann")
		c1, st1 := open(t, f, ann, notify.StreamOptions{})
		_, _ = open(t, f, ann, notify.StreamOptions{})
		assert.Equal(t, 2.0, metric(m, "fm_websocket_connections"))
		_, err := f.svc.Admit(ann)
		require.Error(t, err)
		assert.Equal(t, 1.0, metric(m, "fm_websocket_rejected_total", "user_limit"))
		_, err = f.svc.Admit(context.Background())
		require.Error(t, err)
		assert.Equal(t, 1.0, metric(m, "fm_websocket_rejected_total", "unauthenticated"))

		// A ticket cancelled before its upgrade never counts as open.
		tk, err := f.svc.Admit(as("t", "bob"))
		require.NoError(t, err)
		tk.Cancel()
		assert.Equal(t, 2.0, metric(m, "fm_websocket_connections"))

		st1.Close(notify.CloseClientGone)
		st1.Close(notify.CloseClientGone) // once
		c1.closedWith(t)
		assert.Equal(t, 1.0, metric(m, "fm_websocket_connections"))
		assert.Equal(t, 1.0, metric(m, "fm_websocket_closed_total", "client_gone"))
		_, _ = open(t, f, as("t", "bob"), notify.StreamOptions{})
		assert.Equal(t, 2.0, metric(m, "fm_websocket_connections"))
	}) // the fixture stops: every stream is closed
	require.Eventually(t, func() bool { return metric(m, "fm_websocket_connections") == 0 }, time.Second, time.Millisecond)
	assert.Equal(t, 2.0, metric(m, "fm_websocket_closed_total", "shutdown"))
	for _, name := range []string{"fm_websocket_rejected_total", "fm_websocket_closed_total"} {
		for _, v := range m.LabelValues(name, "reason") {
			assert.NotContains(t, []string{"ann", "bob", "t"}, v)
		}
	}
}
