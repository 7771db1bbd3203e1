package prometheus_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/metrics/prometheus"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// These tests drive the web adapter with the Prometheus Meter: the real
// exposition format and the real cost.

type Note struct {
	doctype.Base
	Title string `json:"title"`
}

var noteMeta = doctype.Meta{Name: "Note", Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}}}

// serve is a handler serving app's services with m as its Meter (nil:
// metrics off) and handler at GET /metrics behind token. (The root wires
// Deps.Meter from [metrics]; until then tests assemble the Deps themselves.)
func serve(app *fmtest.App, m ports.Meter, handler http.Handler, token string) http.Handler {
	return web.New(web.Deps{
		Config: app.Config, Logger: app.Logger, Registry: app.Registry, Resources: app.Resources,
		Settings: app.Settings, Auth: app.Auth, Errors: app.Errors, AuthService: app.AuthService,
		Users: app.UserAdmin, Tenants: app.Tenants, Roles: app.Roles,
		Routes: []func(*echo.Group){},
		Meter:  m, MetricsHandler: handler, MetricsToken: token,
	}).Echo()
}

func TestScrapeAfterBurst(t *testing.T) {
	base := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[Note](noteMeta))
	m := prometheus.New(base.Logger)
	sqlDB, err := base.DB.DB()
	require.NoError(t, err)
	require.NoError(t, m.RegisterDBStats("main", sqlDB))
	ts := httptest.NewServer(serve(base, m, m.Handler(), "tok"))
	t.Cleanup(ts.Close)
	app := &fmtest.App{App: base.App, URL: ts.URL, Server: ts}

	ann := app.As(fmtest.User("ann", "Writer"))
	doc := ann.Post("/api/v1/resource/Note", map[string]any{"title": "x"}).RequireStatus(t, http.StatusCreated).Data(t)
	name := doc["name"].(string)
	for range 3 {
		ann.Get("/api/v1/resource/Note/"+name).RequireStatus(t, http.StatusOK)
	}
	ann.Get("/api/v1/resource/Note/NOTE-404").RequireStatus(t, http.StatusNotFound)
	ann.Get("/api/v1/resource/NoSuchType").RequireStatus(t, http.StatusNotFound)
	ann.Get("/api/v1/no/such/path").RequireStatus(t, http.StatusNotFound)
	app.Bearer("junk").Get("/api/v1/resource/Note").RequireStatus(t, http.StatusUnauthorized)

	app.Anonymous().Get("/metrics").RequireStatus(t, http.StatusUnauthorized)
	text := string(app.Bearer("tok").Get("/metrics").RequireStatus(t, http.StatusOK).Body)
	for _, want := range []string{
		`fm_http_requests_total{method="POST",route="/api/v1/resource/:doctype",status="201"} 1`,
		`fm_http_requests_total{method="GET",route="/api/v1/resource/:doctype/:name",status="200"} 3`,
		`fm_http_requests_total{method="GET",route="/api/v1/resource/:doctype/:name",status="404"} 1`,
		`fm_http_requests_total{method="GET",route="/api/v1/resource/:doctype",status="404"} 1`,
		`fm_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`fm_http_requests_total{method="GET",route="/metrics",status="401"} 1`,
		`fm_http_request_duration_seconds_count{method="GET",route="/api/v1/resource/:doctype/:name"} 4`,
		`fm_http_request_duration_seconds_bucket{method="GET",route="/api/v1/resource/:doctype/:name",le="10"} 4`,
		`fm_auth_failures_total{strategy="bearer"} 1`,
		`go_sql_open_connections{db_name="main"}`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		assert.Contains(t, text, want)
	}
	for _, leak := range []string{name, "NOTE-404", "NoSuchType", "no/such", "ann"} {
		assert.NotContains(t, text, leak)
	}
}

// BenchmarkGetDocumentMetrics is an in-process GET
// /api/v1/resource/Note/{name} through the whole Echo stack with metrics off
// and on (this Meter). Compare with benchstat:
//
//	go test ./adapters/metrics/prometheus -run '^$' -bench GetDocumentMetrics -count 10 > p.txt && benchstat p.txt
func BenchmarkGetDocumentMetrics(b *testing.B) {
	app := fmtest.New(b, fmtest.SQLite, frameworkm.WithDocType[Note](noteMeta))
	doc := app.As(fmtest.User("bench", "Writer")).Post("/api/v1/resource/Note", map[string]any{"title": "bench"}).RequireStatus(b, http.StatusCreated).Data(b)
	path := "/api/v1/resource/Note/" + doc["name"].(string)
	user := `{"id":"bench","roles":["Writer"]}`
	for _, v := range []struct {
		name  string
		meter ports.Meter
	}{{"off", nil}, {"on", prometheus.New(nil)}} {
		h := serve(app, v.meter, nil, "")
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set(fmtest.HeaderUser, user)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
