package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/fmtest"
)

func TestPanicIsRecordedAndHidden(t *testing.T) {
	app := newApp(t)
	user := app.As(fmtest.User("ann", "Writer"))
	res := user.Get("/api/v1/test/panic").RequireStatus(t, http.StatusInternalServerError)
	e := res.Err(t)
	assert.Equal(t, "internal_error", e.Error.Code)
	assert.Contains(t, e.Error.Message, e.RequestID, "the client gets the request id to quote")
	body := string(res.Body)
	for _, leak := range []string{"boom", "secret-token-123", "goroutine", ".go:"} {
		assert.NotContains(t, body, leak, "no internals reach the client")
	}

	admin := app.As(fmtest.Admin())
	filter := url.QueryEscape(fmt.Sprintf(`[["request_id","=",%q]]`, e.RequestID))
	logs, total := admin.Get("/api/v1/resource/Error%20Log?filters="+filter).RequireStatus(t, http.StatusOK).List(t)
	require.Equal(t, 1, total)
	entry := logs[0]
	assert.Equal(t, "ann", entry["user_id"])
	assert.Equal(t, "GET /api/v1/test/panic", entry["request_url"])
	assert.Equal(t, "panic(string)", entry["error_type"])
	assert.Contains(t, entry["error_message"], "boom: secret-token-123")
	assert.Contains(t, entry["traceback"], "goroutine", "the stack is kept for admins")
	assert.Contains(t, entry["traceback"], "web_test.testRoutes")
	assert.NotEmpty(t, entry["timestamp"])

	// Admin-only and immutable.
	name := entry["name"].(string)
	user.Get("/api/v1/resource/Error%20Log").RequireStatus(t, http.StatusForbidden)
	user.Get("/api/v1/resource/Error%20Log/"+name).RequireStatus(t, http.StatusNotFound)
	res = admin.Post("/api/v1/resource/Error%20Log", map[string]any{"title": "fake"}).RequireStatus(t, http.StatusMethodNotAllowed)
	assert.Equal(t, "GET, DELETE", res.Header.Get("Allow"))
	admin.Patch("/api/v1/resource/Error%20Log/"+name, map[string]any{"title": "edited"}).RequireStatus(t, http.StatusMethodNotAllowed)
	user.Delete("/api/v1/resource/Error%20Log/"+name).RequireStatus(t, http.StatusNotFound)
	admin.Delete("/api/v1/resource/Error%20Log/"+name).RequireStatus(t, http.StatusOK)
}

func TestUnexpectedErrorIsRecorded(t *testing.T) {
	app := newApp(t)
	e := app.As(fmtest.User("ann")).Get("/api/v1/test/error").RequireStatus(t, http.StatusInternalServerError).Err(t)
	assert.NotContains(t, e.Error.Message, "disk on fire")
	filter := url.QueryEscape(fmt.Sprintf(`{"request_id": %q}`, e.RequestID))
	logs, total := app.As(fmtest.Admin()).Get("/api/v1/resource/Error%20Log?filters=" + filter).List(t)
	require.Equal(t, 1, total)
	assert.Equal(t, "*errors.errorString", logs[0]["error_type"], "the cause's type")
	assert.Equal(t, "load thing: disk on fire", logs[0]["error_message"])
	assert.Contains(t, logs[0]["traceback"], "*fmt.wrapError")
}

// TestStackTraceOnConsoleOnlyInDebug swaps os.Stderr, so it must not run in parallel.
func TestStackTraceOnConsoleOnlyInDebug(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprint("debug=", debug), func(t *testing.T) {
			cfg := fmtest.Config(t, fmtest.SQLite)
			cfg.App.Debug = debug
			app := fmtest.NewWithConfig(t, cfg, frameworkm.WithRoutes(testRoutes))
			stderr := captureStderr(t, func() {
				app.As(fmtest.User("ann")).Get("/api/v1/test/panic").RequireStatus(t, 500)
			})
			if debug {
				assert.Contains(t, stderr, "goroutine")
				assert.Contains(t, stderr, "boom")
			} else {
				assert.NotContains(t, stderr, "goroutine")
			}
		})
	}
}

func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	func() {
		defer func() { os.Stderr = old }()
		fn()
	}()
	w.Close()
	return <-done
}
