package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

func TestGracefulShutdownDrainsRequests(t *testing.T) {
	// The handler stays in flight until the test, having seen the shutdown
	// begin, releases it: no sleep decides the order.
	started, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	releaseHandler := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseHandler)
	slow := func(api *echo.Group) {
		api.GET("/test/slow", func(c echo.Context) error {
			once.Do(func() { close(started) })
			<-release
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
	// The shutdown has begun once the listener refuses new connections.
	addr := ln.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		_ = conn.Close()
		require.True(t, time.Now().Before(deadline), "the listener still accepts 10 s after cancel")
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("the server stopped (%v) with a request in flight", err)
	case r := <-got:
		t.Fatalf("the in-flight request ended before its handler returned: %+v", r)
	default:
	}
	releaseHandler()
	r := <-got
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "finished", r.body)
	require.NoError(t, <-served)
	_, err = http.Get("http://" + ln.Addr().String() + "/healthz")
	assert.Error(t, err, "the listener is closed after shutdown")
	require.Error(t, app.Start(context.Background()), "a shut-down app cannot restart")
}

// addRoles creates custom Role rows, as an admin would before assigning them:
// roles must exist in the tenant to be assigned or asserted by a gateway.
func addRoles(t *testing.T, app *fmtest.App, names ...string) {
	t.Helper()
	for _, n := range names {
		app.As(fmtest.Admin()).Post("/api/v1/resource/Role", map[string]any{"name": n}).RequireStatus(t, http.StatusCreated)
	}
}
