package frameworkm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/adapters/tracing/otlp"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// TestObservabilityConfig: [openapi], [metrics] and [tracing] decode from
// TOML (headers included) and bad values are refused naming their keys.
func TestObservabilityConfig(t *testing.T) {
	cfg, err := frameworkm.ParseConfig("t.toml", []byte(`
[openapi]
expose = "public"
servers = ["https://api.example.com"]
[metrics]
enabled = true
address = "127.0.0.1:9090"
token = "0123456789abcdef"
[tracing]
enabled = true
endpoint = "http://127.0.0.1:4318"
sample_ratio = 0.25
[tracing.headers]
authorization = "Bearer x"
`))
	require.NoError(t, err)
	assert.Equal(t, "public", cfg.OpenAPI.Expose)
	assert.Equal(t, []string{"https://api.example.com"}, cfg.OpenAPI.Servers)
	assert.True(t, cfg.Metrics.Enabled)
	assert.Equal(t, "127.0.0.1:9090", cfg.Metrics.Address)
	assert.InDelta(t, 0.25, cfg.Tracing.SampleRatio, 1e-9)
	assert.Equal(t, map[string]string{"authorization": "Bearer x"}, cfg.Tracing.Headers)

	cases := map[string]struct {
		tune func(c *config.Config)
		key  string
	}{
		"expose":        {func(c *config.Config) { c.OpenAPI.Expose = "everyone" }, "openapi.expose"},
		"server":        {func(c *config.Config) { c.OpenAPI.Servers = []string{"api.example.com"} }, "openapi.servers[0]"},
		"metrics addr":  {func(c *config.Config) { c.Metrics.Address = "9090" }, "metrics.address"},
		"metrics token": {func(c *config.Config) { c.Metrics.Token = "short" }, "metrics.token"},
		"ratio":         {func(c *config.Config) { c.Tracing.SampleRatio = 1.5 }, "tracing.sample_ratio"},
		"endpoint":      {func(c *config.Config) { c.Tracing.Enabled, c.Tracing.Endpoint = true, "127.0.0.1:4318" }, "tracing.endpoint"},
		"header":        {func(c *config.Config) { c.Tracing.Headers = map[string]string{"bad name": "x"} }, "tracing.headers"},
	}
	for name, tc := range cases {
		cfg := config.Default()
		tc.tune(&cfg)
		err := cfg.Validate()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.key, name)
	}
}

// scrape reads url's metrics with token ("" : none) and returns the status and body.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// TestMetricsEndToEnd: with [metrics] enabled the app serves Prometheus
// metrics behind the token; after a burst of requests they count by route
// template (never a document name or a raw path), and the database pool is
// there too.
func TestMetricsEndToEnd(t *testing.T) {
	const token = "metrics-token-0123456789"
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Metrics.Enabled, cfg.Metrics.Token = true, token
	app := fmtest.NewWithConfig(t, cfg)
	admin := app.As(fmtest.Admin())
	for range 3 {
		admin.Get("/api/v1/resource/Role").RequireStatus(t, http.StatusOK)
	}
	admin.Get("/api/v1/resource/Role/secret-document-name").RequireStatus(t, http.StatusNotFound)
	app.Anonymous().Get("/api/v1/no/such/path-xyz").RequireStatus(t, http.StatusNotFound)

	status, _ := scrape(t, app.URL+"/metrics", "")
	assert.Equal(t, http.StatusUnauthorized, status, "no token")
	status, _ = scrape(t, app.URL+"/metrics", "wrong-token-0123456789")
	assert.Equal(t, http.StatusUnauthorized, status, "wrong token")
	status, body := scrape(t, app.URL+"/metrics", token)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `fm_http_requests_total{method="GET",route="/api/v1/resource/:doctype",status="200"} 3`)
	assert.Contains(t, body, `fm_http_requests_total{method="GET",route="/api/v1/resource/:doctype/:name",status="404"} 1`)
	assert.Contains(t, body, `fm_http_request_duration_seconds_bucket{method="GET",route="/api/v1/resource/:doctype",le="+Inf"} 3`)
	assert.Contains(t, body, `go_sql_open_connections{db_name="main"}`)
	assert.NotContains(t, body, "secret-document-name")
	assert.NotContains(t, body, "path-xyz")
}

// TestMetricsOwnListener: [metrics] address serves /metrics on a listener
// of its own, and the app's listener no longer has it.
func TestMetricsOwnListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Metrics.Enabled, cfg.Metrics.Address = true, addr
	app := fmtest.NewWithConfig(t, cfg)
	app.As(fmtest.Admin()).Get("/api/v1/resource/Role").RequireStatus(t, http.StatusOK)
	var body string
	require.Eventually(t, func() bool {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body = string(b)
		return res.StatusCode == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond)
	assert.Contains(t, body, `route="/api/v1/resource/:doctype"`)
	status, _ := scrape(t, app.URL+"/metrics", "")
	assert.Equal(t, http.StatusNotFound, status, "not on the app's listener")
}

// TestMetricsOff: by default nothing is served at /metrics.
func TestMetricsOff(t *testing.T) {
	app := fmtest.New(t, fmtest.SQLite)
	status, _ := scrape(t, app.URL+"/metrics", "")
	assert.Equal(t, http.StatusNotFound, status)
	_, nop := app.Meter.(ports.NopMeter)
	assert.True(t, nop)
}

// TestOpenAPICommand: `server openapi` prints the document of the app with
// its own DocTypes, on a throwaway database (nothing written to data_dir).
func TestOpenAPICommand(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "[app]\ndata_dir = \""+dir+"/data\"\n[openapi]\nexpose = \"off\"\n")
	var out bytes.Buffer
	require.NoError(t, frameworkm.Run(context.Background(), []string{"openapi", "-config", path}, &out))
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
		Comps   struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc), out.String())
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.Contains(t, doc.Paths, "/api/v1/resource/{doctype}")
	assert.Contains(t, doc.Paths, "/api/v1/auth/login")
	assert.Contains(t, doc.Comps.Schemas, "Role")
	_, err := os.Stat(dir + "/data")
	assert.True(t, os.IsNotExist(err), "the command left data_dir alone")
}

// TestAPIDocsExposure: /api/docs and the document follow [openapi] expose;
// the page runs only its own scripts, served from the binary.
func TestAPIDocsExposure(t *testing.T) {
	for _, tc := range []struct {
		expose              string
		anonymous, signedIn int
	}{
		{"authenticated", http.StatusUnauthorized, http.StatusOK},
		{"public", http.StatusOK, http.StatusOK},
		{"off", http.StatusNotFound, http.StatusNotFound},
	} {
		t.Run(tc.expose, func(t *testing.T) {
			cfg := fmtest.Config(t, fmtest.SQLite)
			cfg.OpenAPI.Expose = tc.expose
			app := fmtest.NewWithConfig(t, cfg)
			for _, path := range []string{"/api/docs", "/api/docs/redoc.standalone.js", "/api/v1/openapi.json"} {
				assert.Equal(t, tc.anonymous, app.Anonymous().Get(path).Status, "anonymous %s", path)
				assert.Equal(t, tc.signedIn, app.As(fmtest.Admin()).Get(path).Status, "signed in %s", path)
			}
			if tc.signedIn != http.StatusOK {
				return
			}
			page := app.As(fmtest.Admin()).Get("/api/docs")
			assert.Contains(t, page.Header.Get("Content-Security-Policy"), "script-src 'self'")
			assert.Contains(t, string(page.Body), `src="/api/docs/redoc.standalone.js"`)
			assert.NotContains(t, string(page.Body), "http", "nothing from another origin")
		})
	}
}

// TestTracingEndToEnd: with [tracing] enabled, a request makes a server
// span named by its route template, with the database's spans as its
// children in the same trace; spans are flushed at shutdown.
func TestTracingEndToEnd(t *testing.T) {
	exp := keptSpans{tracetest.NewInMemoryExporter()}
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Tracing.Enabled, cfg.Tracing.SampleRatio = true, 1
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithSpanExporter(otlp.WithExporter(exp)))
	app.As(fmtest.Admin()).Get("/api/v1/resource/Role").RequireStatus(t, http.StatusOK)
	require.NoError(t, app.Shutdown(context.Background()))

	var server *tracetest.SpanStub
	spans := exp.GetSpans()
	for i, s := range spans {
		if s.SpanKind == trace.SpanKindServer && s.Name == "GET /api/v1/resource/:doctype" {
			server = &spans[i]
		}
	}
	require.NotNil(t, server, "a server span named by the route template among %d spans", len(spans))
	children := 0
	for _, s := range spans {
		if s.Parent.SpanID() == server.SpanContext.SpanID() && strings.HasPrefix(s.Name, "db.") {
			children++
			assert.Equal(t, server.SpanContext.TraceID(), s.SpanContext.TraceID())
		}
	}
	assert.Positive(t, children, "the database queries are children of the request")
}

// keptSpans is an in-memory exporter whose spans outlive the app's
// shutdown (which flushes them, then shuts the exporter down).
type keptSpans struct{ *tracetest.InMemoryExporter }

func (keptSpans) Shutdown(context.Context) error { return nil }

// stuckExporter never finishes an export before its context ends: a
// collector that does not answer.
type stuckExporter struct{ started chan struct{} }

func (e stuckExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	select {
	case e.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (stuckExporter) Shutdown(context.Context) error { return nil }

// TestTracingFlushKeepsTheCallersDeadline: Shutdown flushes the spans until
// the caller's deadline, not for a fixed time of its own (regression test:
// the flush used to wait its own 10 s whatever the caller allowed).
func TestTracingFlushKeepsTheCallersDeadline(t *testing.T) {
	exp := stuckExporter{started: make(chan struct{}, 1)}
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Tracing.Enabled, cfg.Tracing.SampleRatio = true, 1
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithSpanExporter(otlp.WithExporter(exp)))
	app.As(fmtest.Admin()).Get("/api/v1/resource/Role").RequireStatus(t, http.StatusOK)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Shutdown(ctx) }()
	select {
	case err := <-done:
		require.Error(t, err, "the spans could not be exported in time")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown outlived its caller's deadline by seconds")
	}
	select {
	case <-exp.started:
	default:
		t.Fatal("the flush never tried to export")
	}
}

// TestTracingConfigRefused: a bad [tracing] section stops New with its key.
func TestTracingConfigRefused(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Tracing.Enabled, cfg.Tracing.Endpoint = true, "http://collector.example.com:4318"
	_, err := frameworkm.New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tracing.endpoint")
}

// TestAppMeterServedOnlyWhenEnabled: an app's own meter records, but
// /metrics is served only with [metrics] enabled (regression test: a
// review found WithMeter serving it whatever the configuration said).
func TestAppMeterServedOnlyWhenEnabled(t *testing.T) {
	m := memory.New()
	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithMeter(m))
	app.As(fmtest.Admin()).Get("/api/v1/resource/Role").RequireStatus(t, http.StatusOK)
	status, _ := scrape(t, app.URL+"/metrics", "")
	assert.Equal(t, http.StatusNotFound, status)
	v, ok := m.Value("fm_http_requests_total", "/api/v1/resource/:doctype", "GET", "200")
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)

	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Metrics.Enabled = true
	on := fmtest.NewWithConfig(t, cfg, frameworkm.WithMeter(memory.New()))
	on.As(fmtest.Admin()).Get("/api/v1/resource/Role").RequireStatus(t, http.StatusOK)
	status, body := scrape(t, on.URL+"/metrics", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "fm_http_requests_total")
}
