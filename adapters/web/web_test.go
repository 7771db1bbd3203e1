package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

type Note struct {
	doctype.Base
	Title string `json:"title"`
}

var noteMeta = doctype.Meta{Name: "Note", Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}}}

var errBoom = errors.New("disk on fire")

// testRoutes adds routes that fail in the ways the error handler must cope with.
func testRoutes(api *echo.Group) {
	api.GET("/test/panic", func(c echo.Context) error { panic("boom: secret-token-123") })
	api.GET("/test/error", func(c echo.Context) error { return fmt.Errorf("load thing: %w", errBoom) })
	api.GET("/test/whoami", func(c echo.Context) error {
		ctx := c.Request().Context()
		return c.JSON(200, map[string]any{"user": ports.UserFrom(ctx), "tenant": ports.TenantFrom(ctx)})
	}, web.RequireUser)
}

func newApp(t *testing.T, opts ...frameworkm.Option) *fmtest.App {
	t.Helper()
	return fmtest.New(t, fmtest.SQLite, append([]frameworkm.Option{
		frameworkm.WithDocType[Note](noteMeta),
		frameworkm.WithRoutes(testRoutes),
	}, opts...)...)
}

func TestHealthAndReady(t *testing.T) {
	app := newApp(t)
	c := app.Anonymous()
	res := c.Get("/healthz").RequireStatus(t, http.StatusOK)
	assert.JSONEq(t, `{"status":"ok"}`, string(res.Body))
	assert.NotEmpty(t, res.Header.Get(web.HeaderRequestID))
	c.Get("/readyz").RequireStatus(t, http.StatusOK)

	sqlDB, err := app.DB.DB()
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
	e := c.Get("/readyz").RequireStatus(t, http.StatusServiceUnavailable).Err(t)
	assert.Equal(t, "unavailable", e.Error.Code)
	assert.NotEmpty(t, e.RequestID)
	c.Get("/healthz").RequireStatus(t, http.StatusOK) // liveness does not depend on the database
}

func TestRequestID(t *testing.T) {
	app := newApp(t)
	c := app.Anonymous()

	c.Header.Set(web.HeaderRequestID, "trace-abc.123")
	res := c.Get("/api/v1/resource/Note")
	assert.Equal(t, "trace-abc.123", res.Header.Get(web.HeaderRequestID), "a well-formed id is adopted")
	assert.Equal(t, "trace-abc.123", res.Err(t).RequestID, "the error body carries the same id")

	for _, bad := range []string{"has space", strings.Repeat("x", 200), "<script>"} {
		c.Header.Set(web.HeaderRequestID, bad)
		got := c.Get("/healthz").Header.Get(web.HeaderRequestID)
		assert.NotEqual(t, bad, got)
		assert.Len(t, got, 36, "replaced by a generated id")
	}
	c.Header.Del(web.HeaderRequestID)
	a := c.Get("/healthz").Header.Get(web.HeaderRequestID)
	b := c.Get("/healthz").Header.Get(web.HeaderRequestID)
	assert.NotEqual(t, a, b)
}

func TestErrorShapeForRoutingErrors(t *testing.T) {
	app := newApp(t)
	c := app.As(fmtest.User("w", "Writer"))
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/v1/nope", 404, "not_found"},
		{"GET", "/nope", 404, "not_found"},
		{"PUT", "/api/v1/resource/Note", 405, "method_not_allowed"},
		{"GET", "/api/v1/resource/Nope", 404, "not_found"},
		{"GET", "/api/v1/resource/Note/missing", 404, "not_found"},
	} {
		res := c.Do(tc.method, tc.path, nil)
		require.Equal(t, tc.status, res.Status, "%s %s: %s", tc.method, tc.path, res.Body)
		e := res.Err(t)
		assert.Equal(t, tc.code, e.Error.Code, tc.path)
		assert.NotEmpty(t, e.Error.Message, tc.path)
		assert.NotEmpty(t, e.RequestID, tc.path)
		assert.Equal(t, "application/json", strings.Split(res.Header.Get("Content-Type"), ";")[0])
	}
	assert.Contains(t, c.Get("/api/v1/resource/Nope").Err(t).Error.Message, `unknown doctype "Nope"`)
}

func TestDocTypeNameForms(t *testing.T) {
	app := newApp(t)
	c := app.As(fmtest.Admin())
	for _, p := range []string{"System%20Settings", "system-settings", "system_settings"} {
		c.Get("/api/v1/resource/"+p+"/System%20Settings").RequireStatus(t, http.StatusOK)
	}
}

func TestAuthSeam(t *testing.T) {
	app := newApp(t)
	res := app.Anonymous().Get("/api/v1/resource/Note").RequireStatus(t, http.StatusUnauthorized)
	assert.NotEmpty(t, res.Header.Get("WWW-Authenticate"))
	app.Anonymous().Get("/api/v1/test/whoami").RequireStatus(t, http.StatusUnauthorized)

	// A present but invalid credential is a 401 even on public routes.
	c := app.Anonymous()
	c.Header.Set(fmtest.HeaderUser, "{not json")
	c.Get("/api/v1/settings").RequireStatus(t, http.StatusUnauthorized)

	var who struct {
		User   ports.UserContext   `json:"user"`
		Tenant ports.TenantContext `json:"tenant"`
	}
	app.As(fmtest.User("ann", "Writer")).Get("/api/v1/test/whoami").RequireStatus(t, 200).JSON(t, &who)
	assert.Equal(t, "ann", who.User.ID)
	assert.Equal(t, "fmtest", who.User.Method)
	assert.Equal(t, "default", who.Tenant.ID)
	assert.True(t, who.Tenant.IsDefault)
	assert.Equal(t, "*", who.Tenant.Attributes["features"], "the implicit tenant has every feature")
	app.As(fmtest.TenantUser("t2", "ann")).Get("/api/v1/test/whoami").RequireStatus(t, http.StatusForbidden)
}

// multiApp is newApp in multi-tenant mode.
func multiApp(t *testing.T, opts ...frameworkm.Option) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, fmtest.SQLite)
	fmtest.MultiTenant(&cfg)
	return fmtest.NewWithConfig(t, cfg, append([]frameworkm.Option{
		frameworkm.WithDocType[Note](noteMeta),
		frameworkm.WithRoutes(testRoutes),
	}, opts...)...)
}

func TestNoStrategiesConfigured(t *testing.T) {
	// Without the test strategy and with [auth] strategies = [], nobody gets in.
	cfg := fmtest.Config(t, fmtest.SQLite)
	app, err := frameworkm.New(cfg, frameworkm.WithLogger(fmtest.Logger(t)), frameworkm.WithDocType[Note](noteMeta))
	require.NoError(t, err)
	t.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	srv := http.Server{Handler: app.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for _, path := range []string{"/api/v1/resource/Note", "/api/v1/resource/Error%20Log", "/api/v1/resource/System%20Settings"} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
		req.Header.Set(fmtest.HeaderUser, `{"id":"admin","roles":["Admin"]}`) // ignored: no such strategy
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, path)
	}
}

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

func TestSettingsAPI(t *testing.T) {
	app := newApp(t)
	anon := app.Anonymous()
	res := anon.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	assert.Equal(t, "max-age=300", res.Header.Get("Cache-Control"))
	etag := res.Header.Get("ETag")
	require.NotEmpty(t, etag)
	s := res.Data(t)
	assert.Equal(t, "Framework M", s["app_name"])
	assert.Equal(t, "UTC", s["timezone"])
	assert.EqualValues(t, 1440, s["session_expiry"])
	assert.Equal(t, false, s["maintenance_mode"])

	anon.Header.Set("If-None-Match", etag)
	r304 := anon.Get("/api/v1/settings")
	assert.Equal(t, http.StatusNotModified, r304.Status)
	assert.Empty(t, r304.Body)
	anon.Header.Del("If-None-Match")

	anon.Patch("/api/v1/settings", map[string]any{"app_name": "X"}).RequireStatus(t, http.StatusUnauthorized)
	app.As(fmtest.User("ann", "Writer")).Patch("/api/v1/settings", map[string]any{"app_name": "X"}).RequireStatus(t, http.StatusForbidden)

	admin := app.As(fmtest.Admin())
	e := admin.Patch("/api/v1/settings", map[string]any{"timezone": "Mars/Olympus"}).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields, "timezone")
	admin.Patch("/api/v1/settings", map[string]any{"secret": 1}).RequireStatus(t, http.StatusBadRequest)

	up := admin.Patch("/api/v1/settings", map[string]any{"app_name": "Acme ERP", "timezone": "Europe/Berlin"}).RequireStatus(t, http.StatusOK)
	assert.NotEqual(t, etag, up.Header.Get("ETag"))
	// The cache was invalidated: the next read shows the change at once.
	got := anon.Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	assert.Equal(t, "Acme ERP", got.Data(t)["app_name"])
	assert.Equal(t, up.Header.Get("ETag"), got.Header.Get("ETag"))
	anon.Header.Set("If-None-Match", etag)
	assert.Equal(t, http.StatusOK, anon.Get("/api/v1/settings").Status, "old ETag no longer matches")

	// The singleton through the resource API.
	user := app.As(fmtest.User("ann"))
	assert.Equal(t, "Acme ERP", user.Get("/api/v1/resource/System%20Settings/System%20Settings").RequireStatus(t, 200).Data(t)["app_name"])
	list, total := user.Get("/api/v1/resource/System%20Settings").RequireStatus(t, 200).List(t)
	assert.Equal(t, 1, total)
	assert.Len(t, list, 1)
	assert.Equal(t, "GET, PATCH", admin.Post("/api/v1/resource/System%20Settings", map[string]any{"app_name": "Y"}).RequireStatus(t, http.StatusMethodNotAllowed).Header.Get("Allow"))
	admin.Delete("/api/v1/resource/System%20Settings/System%20Settings").RequireStatus(t, http.StatusMethodNotAllowed)
	admin.Patch("/api/v1/resource/System%20Settings/System%20Settings", map[string]any{"language": "de"}).RequireStatus(t, 200)
	assert.Equal(t, "de", anon.Get("/api/v1/settings").Data(t)["language"], "resource API updates invalidate the cache too")
}

func TestSettingsPerTenant(t *testing.T) {
	app := multiApp(t)
	app.As(fmtest.TenantUser("t1", "root", "Admin")).Patch("/api/v1/settings", map[string]any{"app_name": "T1 app"}).RequireStatus(t, 200)
	assert.Equal(t, "T1 app", app.As(fmtest.TenantUser("t1", "u")).Get("/api/v1/settings").Data(t)["app_name"])
	assert.Equal(t, "Framework M", app.As(fmtest.TenantUser("t2", "u")).Get("/api/v1/settings").Data(t)["app_name"])
}

func TestMaintenanceMode(t *testing.T) {
	app := newApp(t)
	admin := app.As(fmtest.Admin())
	user := app.As(fmtest.User("ann", "Writer"))
	user.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)

	admin.Patch("/api/v1/settings", map[string]any{"maintenance_mode": true}).RequireStatus(t, http.StatusOK)
	res := user.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusServiceUnavailable)
	assert.Equal(t, "unavailable", res.Err(t).Error.Code)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	user.Post("/api/v1/resource/Note", map[string]any{"title": "x"}).RequireStatus(t, http.StatusServiceUnavailable)
	app.Anonymous().Get("/api/v1/settings").RequireStatus(t, http.StatusOK)
	admin.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)

	admin.Patch("/api/v1/settings", map[string]any{"maintenance_mode": false}).RequireStatus(t, http.StatusOK)
	user.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
}

func TestGracefulShutdownDrainsRequests(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	slow := func(api *echo.Group) {
		api.GET("/test/slow", func(c echo.Context) error {
			once.Do(func() { close(started) })
			time.Sleep(400 * time.Millisecond)
			return c.String(http.StatusOK, "finished")
		})
	}
	cfg := fmtest.Config(t, fmtest.SQLite)
	app, err := frameworkm.New(cfg, frameworkm.WithLogger(fmtest.Logger(t)), frameworkm.WithRoutes(slow))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- app.ServeListener(ctx, ln) }()

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/api/v1/test/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- result{status: res.StatusCode, body: string(b)}
	}()
	<-started
	cancel() // shut down while the request is in flight
	r := <-got
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "finished", r.body)
	require.NoError(t, <-served)
	_, err = http.Get("http://" + ln.Addr().String() + "/healthz")
	assert.Error(t, err, "the listener is closed after shutdown")
	require.Error(t, app.Start(context.Background()), "a shut-down app cannot restart")
}
