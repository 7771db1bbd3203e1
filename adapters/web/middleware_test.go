package web_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

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

// TestRequestInfoReachesAppRoutes: an app route sees the request's id, client
// address and user agent in ports.RequestInfoFrom, as change events carry them.
func TestRequestInfoReachesAppRoutes(t *testing.T) {
	info := func(api *echo.Group) {
		api.GET("/test/request-info", func(c echo.Context) error {
			return c.JSON(http.StatusOK, ports.RequestInfoFrom(c.Request().Context()))
		})
	}
	app := newApp(t, frameworkm.WithRoutes(info))
	c := app.As(fmtest.User("ann", "Writer"))
	c.Header.Set(web.HeaderRequestID, "trace-info.42")
	c.Header.Set("User-Agent", "fm-test-agent/1.0")
	var got ports.RequestInfo
	c.Get("/api/v1/test/request-info").RequireStatus(t, http.StatusOK).JSON(t, &got)
	assert.Equal(t, ports.RequestInfo{ID: "trace-info.42", ClientIP: "127.0.0.1", UserAgent: "fm-test-agent/1.0"}, got)

	c.Header.Del(web.HeaderRequestID)
	res := app.Anonymous().Get("/api/v1/test/request-info").RequireStatus(t, http.StatusOK)
	res.JSON(t, &got)
	assert.Equal(t, res.Header.Get(web.HeaderRequestID), got.ID, "a generated id is the one sent back")
	assert.Equal(t, "127.0.0.1", got.ClientIP)
}
