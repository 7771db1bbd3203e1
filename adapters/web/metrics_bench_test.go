package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// BenchmarkGetDocumentMetrics is an in-process GET
// /api/v1/resource/Note/{name} through the whole Echo stack (request id,
// access log, auth chain, tenant, rate limit, permission check, SQLite read,
// JSON) with metrics off (no Meter) and on (the memory Meter). Compare with
// benchstat:
//
//	go test ./adapters/web -run '^$' -bench GetDocumentMetrics -count 10 > m.txt && benchstat m.txt
//
// adapters/metrics/prometheus has the same benchmark on the Prometheus Meter.
func BenchmarkGetDocumentMetrics(b *testing.B) {
	app := fmtest.New(b, fmtest.SQLite, frameworkm.WithDocType[Note](noteMeta))
	writer := fmtest.User("bench", "Writer")
	doc := app.As(writer).Post("/api/v1/resource/Note", map[string]any{"title": "bench"}).RequireStatus(b, http.StatusCreated).Data(b)
	path := "/api/v1/resource/Note/" + doc["name"].(string)
	user := `{"id":"bench","roles":["Writer"]}`
	for _, v := range []struct {
		name  string
		meter ports.Meter
	}{{"off", nil}, {"on", memory.New()}} {
		h := metricsServer(app, v.meter, nil, "", nil)
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
