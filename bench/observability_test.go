package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
)

// BenchmarkObservabilityOverhead measures what metrics and tracing add to an
// in-process GET /api/v1/resource/Role/{name} (routing, auth chain,
// permission check, database read, JSON): two apps, one with the feature
// off and one with it on, answer requests in turn within one loop, so both
// see the same machine (this machine is shared and noisy; runs one after
// the other differ by more than the overhead). It reports each app's
// ns/request and "added-%". "control" compares two identical apps: its
// added-% is the noise floor.
//
//	go test -run '^$' -bench ObservabilityOverhead -benchtime 20000x -count 5 ./bench/
func BenchmarkObservabilityOverhead(b *testing.B) {
	for _, tc := range []struct {
		name string
		on   func(*config.Config)
	}{
		{"control", func(*config.Config) {}},
		{"metrics", func(c *config.Config) { c.Metrics.Enabled = true }},
		{"tracing-ratio0", func(c *config.Config) {
			c.Tracing.Enabled, c.Tracing.SampleRatio, c.Tracing.Endpoint = true, 0, "http://127.0.0.1:1"
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			off, on := fmtest.Config(b, fmtest.SQLite), fmtest.Config(b, fmtest.SQLite)
			tc.on(&on)
			var handlers [2]http.Handler
			var paths [2]string
			for i, cfg := range []config.Config{off, on} {
				cfg.App.LogLevel = "error"
				app := fmtest.NewWithConfig(b, cfg)
				name := app.As(fmtest.Admin()).Post("/api/v1/resource/Role", map[string]any{"name": "Bench-Role"}).
					RequireStatus(b, http.StatusCreated).Data(b)["name"].(string)
				handlers[i], paths[i] = app.Handler(), "/api/v1/resource/Role/"+name
			}
			user := `{"id":"admin","roles":["Admin"]}`
			var spent [2]time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				k := i & 1
				req := httptest.NewRequest(http.MethodGet, paths[k], nil)
				req.Header.Set(fmtest.HeaderUser, user)
				rec := httptest.NewRecorder()
				start := time.Now()
				handlers[k].ServeHTTP(rec, req)
				spent[k] += time.Since(start)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			half := float64(max(b.N/2, 1))
			offNS, onNS := float64(spent[0].Nanoseconds())/half, float64(spent[1].Nanoseconds())/half
			b.ReportMetric(offNS, "off-ns/req")
			b.ReportMetric(onNS, "on-ns/req")
			b.ReportMetric(100*(onNS-offNS)/offNS, "added-%")
		})
	}
}
