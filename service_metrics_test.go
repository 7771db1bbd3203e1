package frameworkm_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// TestServiceMetrics: the services record their metrics on the app's
// Meter as real requests go through them — an upload and its download, an
// audited create, a PDF print, a notification stream, a queued email — and
// no label value names a tenant, user, file or document.
func TestServiceMetrics(t *testing.T) {
	m := memory.New()
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Print.PDFBackend = "memory"
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithMeter(m))
	value := func(name string, labels ...string) float64 {
		v, _ := m.Value(name, labels...)
		return v
	}

	// Files: the bytes of an upload and of its download are the file's size.
	ann := app.As(fmtest.User("ann"))
	content := strings.Repeat("counted on the way in and out\n", 3000)
	f := ann.Upload("/api/v1/file/upload", "secret-plans.txt", strings.NewReader(content), nil).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, float64(len(content)), value("fm_storage_bytes_total", "in"))
	assert.Equal(t, 1.0, value("fm_storage_operations_total", "upload", "ok"))
	got := ann.Get("/api/v1/file/"+f["id"].(string)).RequireStatus(t, http.StatusOK)
	require.Equal(t, content, string(got.Body))
	assert.Equal(t, float64(len(content)), value("fm_storage_bytes_total", "out"))

	// Audit: a create through the API is written (the upload's File too).
	written := value("fm_audit_entries_written_total")
	admin := app.As(fmtest.Admin())
	admin.Post("/api/v1/resource/Notification", map[string]any{
		"user_id": "bob", "subject": "quarterly numbers", "notification_type": "mention",
	}).RequireStatus(t, http.StatusCreated)
	require.NoError(t, app.Audit.Flush(context.Background()))
	assert.Greater(t, value("fm_audit_entries_written_total"), written)
	assert.Zero(t, value("fm_audit_entries_dropped_total", "queue_full"))

	// Print: a PDF conversion, timed.
	res := admin.Get("/api/v1/print/System%20Settings/System%20Settings").RequireStatus(t, http.StatusOK)
	require.Equal(t, "application/pdf", res.Header.Get("Content-Type"), res.Header.Get("X-Print-Warning"))
	assert.Equal(t, 1.0, value("fm_pdf_conversions_total", "ok"))
	n, _, _ := m.HistogramValue("fm_pdf_conversion_duration_seconds")
	assert.EqualValues(t, 1, n)
	assert.Zero(t, value("fm_pdf_fallbacks_total", "unavailable"))

	// Notifications: a stream opened is counted while it is open.
	u, err := json.Marshal(fmtest.User("bob"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(app.URL, "http")+"/api/v1/notifications/stream",
		&websocket.DialOptions{HTTPHeader: http.Header{fmtest.HeaderUser: {string(u)}}})
	require.NoError(t, err)
	assert.Equal(t, 1.0, value("fm_websocket_connections"))
	require.NoError(t, ws.Close(websocket.StatusNormalClosure, "bye"))
	require.Eventually(t, func() bool { return value("fm_websocket_connections") == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1.0, value("fm_websocket_closed_total", "client_gone"))

	// Email: the workers send a queued email (the log sender accepts it).
	_, err = app.QueueEmail(app.SystemContext(context.Background(), ""), email.Request{
		To: []ports.EmailAddress{{Address: "bob@example.com"}}, Subject: "hello", Text: "hi",
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return value("fm_email_send_total", "sent") == 1 }, 10*time.Second, 10*time.Millisecond)
	_, ok := m.Value("fm_email_queue_depth")
	assert.True(t, ok, "the workers report the queue depth")

	// No label value carries a tenant, user, file or document.
	text := m.Text()
	for _, leak := range []string{"secret-plans", "ann", "bob", "quarterly", f["id"].(string), cfg.Tenancy.DefaultTenantID} {
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, "fm_") {
				name, labels, _ := strings.Cut(line, "{")
				assert.NotContains(t, labels, `"`+leak, "%s names %q", name, leak)
			}
		}
	}
}
