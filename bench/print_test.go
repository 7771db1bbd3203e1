package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	printtemplate "github.com/framework-m/framework-m/adapters/print/template"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/examples/invoice/billing"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// BenchmarkPrintRenderInvoice renders the example app's invoice format
// (billing.InvoiceTemplate) to a whole HTML page: the template engine
// alone, as the print API runs it for every print. Goal: < 100 µs.
func BenchmarkPrintRenderInvoice(b *testing.B) {
	r, err := printtemplate.New(printtemplate.Config{})
	if err != nil {
		b.Fatal(err)
	}
	data := ports.PrintData{
		Doc: map[string]any{
			"name": "INV-2026-00042", "customer": "Globex Corporation", "amount": doctype.MustDecimal("1234.50"),
			"currency": "EUR", "status": "Draft", "created_at": time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		},
		Meta:     ports.PrintMeta{Name: "Invoice"},
		Settings: map[string]any{"app_name": "Framework M", "timezone": "Europe/Berlin", "date_format": "dd.mm.yyyy", "time_format": "HH:mm"},
		User:     map[string]any{"name": "bench"},
	}
	t := ports.PrintTemplate{Name: "Standard Invoice", Source: billing.InvoiceTemplate, CSS: billing.InvoiceCSS}
	ctx := context.Background()
	out, err := r.RenderHTML(ctx, data, t)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Contains(out.HTML, []byte("€1,234.50")) {
		b.Fatalf("unexpected page: %s", out.HTML)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.RenderHTML(ctx, data, t); err != nil {
			b.Fatal(err)
		}
	}
}

// printBenchApp serves the example invoice app with its print format as
// the default, and one invoice to print.
func printBenchApp(b *testing.B, gotenberg bool) (h http.Handler, path string) {
	b.Helper()
	cfg := fmtest.Config(b, fmtest.SQLite)
	cfg.App.LogLevel = "error"
	cfg.RateLimit.Enabled = false
	if gotenberg {
		fmtest.Gotenberg(b, &cfg)
	}
	app := fmtest.NewWithConfig(b, cfg, billing.Options()...)
	admin := app.As(fmtest.Admin())
	if res := admin.Post("/api/v1/resource/Print%20Format", map[string]any{
		"name": "Standard Invoice", "doctype": "Invoice", "is_default": true,
		"template": billing.InvoiceTemplate, "css": billing.InvoiceCSS,
	}); res.Status != http.StatusCreated {
		b.Fatalf("print format: %d %s", res.Status, res.Body)
	}
	user := fmtest.User("bench", "Accounts Manager")
	res := app.As(user).Post("/api/v1/resource/Invoice", map[string]any{"customer": "Globex", "amount": "1234.50", "currency": "EUR"})
	if res.Status != http.StatusCreated {
		b.Fatalf("invoice: %d %s", res.Status, res.Body)
	}
	name, _ := res.Data(b)["name"].(string)
	return app.Handler(), "/api/v1/print/Invoice/" + name
}

// printOnce serves one print request in process and checks its type.
func printOnce(b *testing.B, h http.Handler, path, wantType string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set(fmtest.HeaderUser, `{"id":"bench","roles":["Accounts Manager"]}`)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), wantType) {
		b.Errorf("GET %s: %d %s (%s)", path, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("X-Print-Warning"))
	}
}

// BenchmarkPrintHTML is GET /api/v1/print/Invoice/{name}?format=html in
// process: the middleware chain, the document read with its permission
// check, the format lookup, System Settings and the render.
func BenchmarkPrintHTML(b *testing.B) {
	h, path := printBenchApp(b, false)
	path += "?format=html"
	b.ReportAllocs()
	for b.Loop() {
		printOnce(b, h, path, "text/html")
	}
}

// BenchmarkPrintPDF is the same print as a PDF through the real Gotenberg
// (FM_TEST_GOTENBERG_URL): one at a time (ns/op is one PDF's latency), and
// four at once (pdfs/s is the throughput).
func BenchmarkPrintPDF(b *testing.B) {
	h, path := printBenchApp(b, true)
	printOnce(b, h, path, "application/pdf") // Chromium's first page is slow
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			printOnce(b, h, path, "application/pdf")
		}
	})
	b.Run("concurrent=4", func(b *testing.B) {
		var next atomic.Int64
		n := int64(b.N)
		start := time.Now()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for next.Add(1) <= n {
					printOnce(b, h, path, "application/pdf")
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pdfs/s")
	})
}
