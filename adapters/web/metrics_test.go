package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/metrics/memory"
	ratelimit "github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// withMetrics serves app's services again through a web.Server of their own
// (metricsServer) on a test HTTP server.
func withMetrics(t testing.TB, app *fmtest.App, m ports.Meter, handler http.Handler, token string, mutate func(*config.Config)) *fmtest.App {
	t.Helper()
	ts := httptest.NewServer(metricsServer(app, m, handler, token, mutate))
	t.Cleanup(ts.Close)
	return &fmtest.App{App: app.App, URL: ts.URL, Server: ts}
}

// metricsServer is a handler serving app's services with m as its Meter
// (nil: metrics off), handler at GET /metrics behind token, and mutate
// applied to the configuration. (The root wires Deps.Meter from [metrics];
// until then tests assemble the Deps themselves.)
func metricsServer(app *fmtest.App, m ports.Meter, handler http.Handler, token string, mutate func(*config.Config)) http.Handler {
	cfg := app.Config
	if mutate != nil {
		mutate(&cfg)
	}
	return web.New(web.Deps{
		Config: cfg, Logger: app.Logger, Registry: app.Registry, Resources: app.Resources,
		Settings: app.Settings, Auth: app.Auth, Errors: app.Errors, AuthService: app.AuthService,
		Accounts: app.Accounts, Users: app.UserAdmin, Tenants: app.Tenants, Roles: app.Roles,
		RateLimiter: ratelimit.New(), Routes: []func(*echo.Group){testRoutes},
		Meter: m, MetricsHandler: handler, MetricsToken: token,
	}).Echo()
}

const metricsToken = "s3cret-metrics-token"

// TestMetricsAfterBurst fires a scripted burst of requests (200, 201, 401,
// 403, 404, 405, 429) and checks what /metrics then says: route templates,
// never raw paths, ids or unknown DocTypes; auth failures by strategy;
// denials by registered DocType; rate-limit rejections by scope.
func TestMetricsAfterBurst(t *testing.T) {
	base := newApp(t)
	addRoles(t, base, "Nobody")
	m := memory.New()
	app := withMetrics(t, base, m, m.Handler(), metricsToken, func(c *config.Config) { c.RateLimit.Requests = 30 })
	base.CreateUser(t, "ann@example.com", "correct horse battery", "Writer")

	ann := app.As(fmtest.User("ann", "Writer"))
	created := ann.Post("/api/v1/resource/Note", map[string]any{"title": "hello"}).RequireStatus(t, http.StatusCreated).Data(t)
	name, _ := created["name"].(string)
	require.NotEmpty(t, name)
	ann.Get("/api/v1/resource/Note/"+name).RequireStatus(t, http.StatusOK)
	ann.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	ann.Get("/api/v1/resource/Note/NOTE-MISSING-4242").RequireStatus(t, http.StatusNotFound)
	ann.Get("/api/v1/resource/UnknownDocTypeX").RequireStatus(t, http.StatusNotFound)
	ann.Get("/api/v1/random/path-9f8e7d").RequireStatus(t, http.StatusNotFound)
	ann.Do(http.MethodPut, "/api/v1/resource/Note", nil).RequireStatus(t, http.StatusMethodNotAllowed)
	ann.Do("PROPFIND", "/api/v1/resource/Note", nil)
	app.Anonymous().Get("/api/v1/resource/Note").RequireStatus(t, http.StatusUnauthorized) // no credential: no auth failure
	app.Bearer("not-a-token").Get("/api/v1/resource/Note").RequireStatus(t, http.StatusUnauthorized)
	app.Anonymous().Raw(http.MethodGet, "/api/v1/resource/Note", nil, http.Header{fmtest.HeaderUser: {"{broken"}}).RequireStatus(t, http.StatusUnauthorized)
	app.Anonymous().Post("/api/v1/auth/login", map[string]string{"username": "ann@example.com", "password": "wrong"}).RequireStatus(t, http.StatusUnauthorized)
	nobody := app.As(fmtest.User("nobody", "Nobody"))
	nobody.Post("/api/v1/resource/Note", map[string]any{"title": "no"}).RequireStatus(t, http.StatusForbidden)
	nobody.Post("/api/v1/resource/note", map[string]any{"title": "no"}).RequireStatus(t, http.StatusForbidden) // another spelling, one label
	ann.Get("/api/v1/users").RequireStatus(t, http.StatusForbidden)
	app.Anonymous().Get("/healthz").RequireStatus(t, http.StatusOK)
	greedy := app.As(fmtest.User("greedy", "Writer"))
	for range 30 {
		greedy.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	}
	greedy.Get("/api/v1/resource/Note").RequireStatus(t, http.StatusTooManyRequests)

	// The exposure: 401 without the token, or with a wrong one.
	for _, h := range []http.Header{
		{},
		{"Authorization": {"Bearer wrong"}},
		{"Authorization": {"Basic " + metricsToken}},
		{"Authorization": {"Bearer " + metricsToken, "Bearer " + metricsToken}},
	} {
		res := app.Anonymous().Raw(http.MethodGet, "/metrics", nil, h)
		require.Equal(t, http.StatusUnauthorized, res.Status, "%v", h)
		e := res.Err(t)
		assert.Equal(t, "unauthorized", e.Error.Code)
		assert.NotEmpty(t, e.RequestID)
		assert.NotContains(t, string(res.Body), "fm_http_requests_total")
	}
	res := app.Bearer(metricsToken).Get("/metrics").RequireStatus(t, http.StatusOK)
	text := string(res.Body)

	// Requests by route template, method and status; latency by route and method.
	for _, line := range []string{
		`fm_http_requests_total{route="/api/v1/resource/:doctype",method="POST",status="201"} 1`,
		`fm_http_requests_total{route="/api/v1/resource/:doctype/:name",method="GET",status="200"} 1`,
		`fm_http_requests_total{route="/api/v1/resource/:doctype/:name",method="GET",status="404"} 1`,
		`fm_http_requests_total{route="/api/v1/resource/:doctype",method="GET",status="404"} 1`,
		`fm_http_requests_total{route="unmatched",method="GET",status="404"} 1`,
		`fm_http_requests_total{route="unmatched",method="PUT",status="405"} 1`,
		`fm_http_requests_total{route="unmatched",method="OTHER",status="405"} 1`,
		`fm_http_requests_total{route="/api/v1/resource/:doctype",method="POST",status="403"} 2`,
		`fm_http_requests_total{route="/api/v1/resource/:doctype",method="GET",status="429"} 1`,
		`fm_http_requests_total{route="/healthz",method="GET",status="200"} 1`,
		`fm_http_request_duration_seconds_count{route="/api/v1/resource/:doctype/:name",method="GET"} 2`,
		`fm_http_request_duration_seconds_bucket{route="/api/v1/resource/:doctype/:name",method="GET",le="+Inf"} 2`,
		`fm_auth_failures_total{strategy="bearer"} 1`,
		`fm_auth_failures_total{strategy="fmtest"} 1`,
		`fm_auth_failures_total{strategy="login"} 1`,
		`fm_permission_denials_total{doctype="Note"} 2`,
		`fm_permission_denials_total{doctype="(none)"} 1`,
		`fm_rate_limit_rejections_total{scope="user"} 1`,
	} {
		assert.Contains(t, text, line+"\n")
	}
	assert.Contains(t, text, `fm_http_requests_total{route="/api/v1/resource/:doctype",method="GET",status="401"} 3`)
	assert.Contains(t, text, `fm_http_requests_total{route="/metrics",method="GET",status="401"} 4`)

	// No raw path, id, user or unknown DocType anywhere.
	for _, leak := range []string{name, "NOTE-MISSING", "UnknownDocTypeX", "random", "path-9f8e7d", "ann", "greedy", "nobody", "PROPFIND", `doctype="note"`} {
		assert.NotContains(t, text, leak)
	}
	for _, route := range m.LabelValues("fm_http_requests_total", "route") {
		assert.True(t, route == "unmatched" || strings.HasPrefix(route, "/"), route)
		for seg := range strings.SplitSeq(route, "/") {
			assert.False(t, strings.ContainsAny(seg, "0123456789") && !strings.HasPrefix(seg, ":") && seg != "v1", "route %q carries a literal id", route)
		}
	}

	// More unknown DocTypes and random paths add no series, once each kind
	// of request (route template, method, status) has been seen.
	probe := func(i int) {
		suffix := strings.Repeat("x", i+1)
		// A principal each, to stay within the per-user limit.
		writer, denied := app.As(fmtest.User("w"+suffix, "Writer")), app.As(fmtest.User("n"+suffix, "Nobody"))
		writer.Get("/api/v1/resource/Unknown"+suffix).RequireStatus(t, http.StatusNotFound)
		writer.Get("/api/v1/nowhere/"+suffix).RequireStatus(t, http.StatusNotFound)
		denied.Post("/api/v1/resource/Unknown"+suffix, map[string]any{}).RequireStatus(t, http.StatusNotFound)
		denied.Post("/api/v1/resource/Note", map[string]any{"title": suffix}).RequireStatus(t, http.StatusForbidden)
	}
	series := func() [3]int {
		return [3]int{m.Series("fm_http_requests_total"), m.Series("fm_http_request_duration_seconds"), m.Series("fm_permission_denials_total")}
	}
	probe(0)
	before := series()
	for i := range 20 {
		probe(i + 1)
	}
	assert.Equal(t, before, series(), "unknown doctypes and random paths must not grow the label set")
}

func TestMetricsOffByDefault(t *testing.T) {
	app := newApp(t)
	app.Anonymous().Get("/metrics").RequireStatus(t, http.StatusNotFound)
}

func TestMetricsWithoutToken(t *testing.T) {
	m := memory.New()
	app := withMetrics(t, newApp(t), m, m.Handler(), "", nil)
	app.Anonymous().Get("/healthz").RequireStatus(t, http.StatusOK)
	res := app.Anonymous().Get("/metrics").RequireStatus(t, http.StatusOK)
	assert.Contains(t, string(res.Body), `fm_http_requests_total{route="/healthz",method="GET",status="200"} 1`)
}

func TestMetricsServer(t *testing.T) {
	m := memory.New()
	m.Counter("fm_x_total", "X.").Add(1)
	h := web.MetricsServer(m.Handler(), metricsToken, fmtest.Logger(t))
	for _, tc := range []struct {
		path, auth string
		status     int
	}{
		{"/metrics", "Bearer " + metricsToken, http.StatusOK},
		{"/metrics", "bearer  " + metricsToken + " ", http.StatusOK},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "Bearer " + metricsToken + "x", http.StatusUnauthorized},
		{"/other", "Bearer " + metricsToken, http.StatusNotFound},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, tc.status, rec.Code, "%s %q", tc.path, tc.auth)
		if tc.status == http.StatusOK {
			assert.Contains(t, rec.Body.String(), "fm_x_total 1")
		} else {
			assert.Contains(t, rec.Body.String(), `"request_id"`)
			assert.Contains(t, rec.Header().Get("Content-Type"), "application/json")
		}
	}
}

func TestMetricsRateLimitByAddress(t *testing.T) {
	m := memory.New()
	app := withMetrics(t, newApp(t), m, nil, "", func(c *config.Config) { c.RateLimit.RequestsPerIP = 2 })
	for i := range 2 {
		app.As(fmtest.User(fmt.Sprint("u", i), "Writer")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	}
	app.As(fmtest.User("u9", "Writer")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusTooManyRequests)
	v, _ := m.Value("fm_rate_limit_rejections_total", "address")
	assert.InDelta(t, 1, v, 1e-9)
	_, ok := m.Value("fm_rate_limit_rejections_total", "user")
	assert.False(t, ok)
	app.Anonymous().Get("/metrics").RequireStatus(t, http.StatusNotFound) // no handler: no route
}

// HEAD is answered where GET is, on the app's listener and on a listener of
// its own, the token checked the same.
func TestMetricsHead(t *testing.T) {
	m := memory.New()
	app := withMetrics(t, newApp(t), m, m.Handler(), metricsToken, nil)
	app.Anonymous().Do(http.MethodHead, "/metrics", nil).RequireStatus(t, http.StatusUnauthorized)
	h := app.Anonymous().Raw(http.MethodHead, "/metrics", nil, http.Header{"Authorization": {"Bearer " + metricsToken}}).RequireStatus(t, http.StatusOK)
	assert.Empty(t, h.Body)
	assert.Contains(t, h.Header.Get("Content-Type"), "text/plain")

	own := httptest.NewServer(web.MetricsServer(m.Handler(), metricsToken, fmtest.Logger(t)))
	t.Cleanup(own.Close)
	for auth, status := range map[string]int{"": http.StatusUnauthorized, "Bearer " + metricsToken: http.StatusOK} {
		req, err := http.NewRequest(http.MethodHead, own.URL+"/metrics", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := own.Client().Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, status, res.StatusCode, "HEAD on the metrics listener, %q", auth)
	}
}

// A WebSocket stream is counted (status 101) but its lifetime is not a
// request latency: the duration histogram never sees it.
func TestWebSocketLifetimeNotALatency(t *testing.T) {
	m := memory.New()
	cfg := notifyConfig(t, fmtest.SQLite)
	app := notifyApp(t, cfg, frameworkm.WithMeter(m))
	w := dial(t, app, asHeader(app, fmtest.User("ann", "Writer")), "")
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, w.c.Close(websocket.StatusNormalClosure, ""))
	const route = "/api/v1/notifications/stream"
	require.Eventually(t, func() bool {
		n, _ := m.Value("fm_http_requests_total", route, "GET", "101")
		return n == 1
	}, 5*time.Second, 20*time.Millisecond, "the stream is counted once it ends")
	time.Sleep(100 * time.Millisecond) // what follows the count has run
	_, _, ok := m.HistogramValue("fm_http_request_duration_seconds", route, "GET")
	assert.False(t, ok, "no latency observed for the stream")

	// An ordinary request still is.
	app.As(fmtest.User("ann", "Writer")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusOK)
	n, _, ok := m.HistogramValue("fm_http_request_duration_seconds", "/api/v1/resource/:doctype", "GET")
	assert.True(t, ok)
	assert.EqualValues(t, 1, n)
}
