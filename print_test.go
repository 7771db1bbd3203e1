package frameworkm_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	printmemory "github.com/framework-m/framework-m/adapters/print/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// stampSettings is the [print.stamp] table of a third party's converter.
type stampSettings struct {
	Stamp string `toml:"stamp"`
}

func (s stampSettings) Validate() error {
	if s.Stamp == "" {
		return core.Invalid("stamp", "is required")
	}
	return nil
}

// stamper converts with the memory converter, stamping each page.
type stamper struct {
	*printmemory.Converter
	stamp string
}

func (s stamper) HTMLToPDF(ctx context.Context, page ports.Rendered, opts ports.PDFOptions) (io.ReadCloser, error) {
	page.Footer = []byte("<p>" + s.stamp + "</p>")
	return s.Converter.HTMLToPDF(ctx, page, opts)
}

// TestThirdPartyPDFBackend: a converter registered with WithPDFBackend is
// chosen by [print] pdf_backend and gets its [print.<name>] settings —
// although renderers share the [print] prefix —, and prints; bad settings
// and unknown names stop New naming the key.
func TestThirdPartyPDFBackend(t *testing.T) {
	var built *stamper
	backend := frameworkm.WithPDFBackend("stamp", frameworkm.NewBackend(stampSettings{}, func(_ frameworkm.Deps, s stampSettings) (ports.PDFConverter, error) {
		built = &stamper{Converter: printmemory.New(), stamp: s.Stamp}
		return built, nil
	}))
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Print.PDFBackend = "stamp"
	cfg.SetSection("print.stamp", map[string]any{"stamp": "COPY"})
	app := fmtest.NewWithConfig(t, cfg, backend)
	require.NotNil(t, built)
	res := app.As(fmtest.Admin()).Get("/api/v1/print/System%20Settings/System%20Settings").RequireStatus(t, http.StatusOK)
	assert.Equal(t, "application/pdf", res.Header.Get("Content-Type"), res.Header.Get("X-Print-Warning"))
	require.Len(t, built.Conversions(), 1)
	assert.Contains(t, string(built.Conversions()[0].Page.HTML), "App Name", "the generated layout of System Settings")

	bad := fmtest.Config(t, fmtest.SQLite)
	bad.Print.PDFBackend = "stamp"
	_, err := frameworkm.New(bad, backend)
	assert.ErrorContains(t, err, "print.stamp.stamp")
	bad.Print.PDFBackend = "wkhtmltopdf"
	_, err = frameworkm.New(bad, backend)
	assert.ErrorContains(t, err, `print.pdf_backend: unknown backend "wkhtmltopdf"`)
	assert.ErrorContains(t, err, "gotenberg, memory, none, stamp")
	bad.Print.PDFBackend = "gotenberg"
	bad.Print.GotenbergURL = "ftp://example.com"
	_, err = frameworkm.New(bad)
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	assert.ErrorContains(t, err, "print.gotenberg_url")
	bad.Print.GotenbergURL = "http://127.0.0.1:3000"
	bad.Print.Renderer = "jinja"
	_, err = frameworkm.New(bad)
	assert.ErrorContains(t, err, `print.renderer: unknown backend "jinja"`)
	bad.Print.Renderer = "html"
	bad.SetSection("print.unknown", map[string]any{"x": 1})
	ok, err := frameworkm.New(bad)
	require.NoError(t, err, "a section no registered backend owns is ignored (a third party's, not registered in this build)")
	require.NoError(t, ok.Shutdown(context.Background()))
}
