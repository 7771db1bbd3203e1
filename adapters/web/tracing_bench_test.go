package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/framework-m/framework-m/fmtest"
)

// BenchmarkGetDocumentTracing is an in-process GET
// /api/v1/resource/Note/{name} through the whole Echo stack (request id,
// tracing, access log, auth chain, tenant, permission check, SQLite read,
// JSON) with tracing off (no TracerProvider: no middleware) and on at
// sample ratio 0 (the server span is started, not recorded; the database
// plugin sees no recording span and makes none). The goal: ratio0
// adds less than 2 %.
//
// Both stacks serve the same app and database, so that only the tracing
// differs (two apps differ by more than that). The database tracing plugin
// is installed under both: off pays its two context lookups per statement
// too, a few tens of nanoseconds. Compare with benchstat:
//
//	go test ./adapters/web -run '^$' -bench GetDocumentTracing -count 10 -cpu 1 > t.txt && benchstat t.txt
func BenchmarkGetDocumentTracing(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	app := newTracedApp(b, tp)
	writer := fmtest.User("bench", "Writer")
	doc := app.As(writer).Post("/api/v1/resource/Note", map[string]any{"title": "bench"}).RequireStatus(b, http.StatusCreated).Data(b)
	path := "/api/v1/resource/Note/" + doc["name"].(string)
	user := `{"id":"bench","roles":["Writer"]}`
	for _, v := range []struct {
		name string
		e    *echo.Echo
	}{{"off", tracedEcho(app, nil, io.Discard)}, {"ratio0", tracedEcho(app, tp, io.Discard)}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set(fmtest.HeaderUser, user)
				rec := httptest.NewRecorder()
				v.e.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
