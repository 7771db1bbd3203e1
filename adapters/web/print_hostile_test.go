package web_test

// Hostile regression tests of printing: each names the bug it pins down
// (all found by a hostile review, all fixed). Their time bounds only catch
// hangs: the limits under test are 300 ms.

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
)

const previewPath = "/api/v1/print/preview"

// tightPrint bounds templates tightly: 300 ms and 1 MB of output.
func tightPrint(c *config.Config) {
	c.Print.RenderTimeoutMS = 300
	c.Print.MaxOutputSize = "1MB"
}

// TestPrintHostileMethodCallsEscapeTheBudget: templates may
// call the methods of the values they read. A doctype.Decimal hands out a
// *big.Rat ({{.doc.total.Rat}}), and math/big computes without counting
// steps or looking at the clock: FloatString of a few million digits runs
// for seconds (20 M digits: 13 s against a 200 ms limit) and a larger one
// for hours, holding the request and a CPU. Expected: the run is cut off
// at its time limit (or the method refused) — a 400, promptly.
func TestPrintHostileMethodCallsEscapeTheBudget(t *testing.T) {
	app := printApp(t, fmtest.SQLite, tightPrint)
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)

	start := time.Now()
	res := admin.Post(previewPath, map[string]any{"doctype": "Sales Invoice", "name": name,
		"template": `{{len (.doc.total.Rat.FloatString 12000000)}}`})
	took := time.Since(start)
	assert.Equal(t, http.StatusBadRequest, res.Status, "a 12 MB number exceeds the output and time limits; got %s", res.Body)
	assert.Less(t, took, 10*time.Second, "cut off near the 300 ms limit")
}

// TestPrintHostilePrintfBuildsUnboundedStrings: printf (print,
// println, html, js, urlquery alike) builds its whole result before anything
// is written, and a variable holding it is never written at all: neither
// max_output_size nor the time limit sees it. Two assignments make 100 MB,
// three 1 GB, four take the process down; a list of copies runs past the
// time limit. This also runs when a format is SAVED: parse() executes the
// template once to escape it, with no budget at all.
// Expected: no value may grow past max_output_size, and the runs stop at
// their time limit.
func TestPrintHostilePrintfBuildsUnboundedStrings(t *testing.T) {
	app := printApp(t, fmtest.SQLite, tightPrint)
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)
	ten := `"%s%s%s%s%s%s%s%s%s%s" $x $x $x $x $x $x $x $x $x $x`
	grow := `{{$x := printf "%0999999d" 1}}{{$x = printf ` + ten + `}}`

	// 10 MB in a variable, ten times max_output_size.
	res := admin.Post(previewPath, map[string]any{"doctype": "Sales Invoice", "name": name, "template": grow + `{{len $x}}`})
	assert.Equal(t, http.StatusBadRequest, res.Status, "a 10 MB value with max_output_size 1MB: %.200s", res.Body)

	// 200 copies of 20 MB: far past the 300 ms limit.
	copies := grow + strings.Repeat(`{{$y := len (printf "%s%s" $x $x)}}`, 200) + "done"
	start := time.Now()
	res = admin.Post(previewPath, map[string]any{"doctype": "Sales Invoice", "name": name, "template": copies + "<!-- preview -->"})
	assert.Equal(t, http.StatusBadRequest, res.Status, "%.200s", res.Body)
	assert.Less(t, time.Since(start), 10*time.Second, "preview cut off near its time limit")

	// Saving it runs it too (the escaping run in parse()).
	start = time.Now()
	admin.Post(printFormats, map[string]any{"name": "Copies", "doctype": "Sales Invoice", "template": copies + "<!-- saved -->"})
	assert.Less(t, time.Since(start), 10*time.Second, "saving a format must not run it unbounded")
}

// TestPrintHostileNestedRangeIsExponential (failed on 3436bd5, passes since
// a13b36a refuses ranges nested more than 12 deep): html/template
// escapes a {{range}} body more than once to find its context, so nested
// ranges cost 2^depth: 18 deep takes 0.5 s, 22 deep 8 s, 30 deep half an
// hour — a 300-byte template. The escaping runs in Check (save, preview)
// and for every new pooled instance, outside any budget, and nothing can
// interrupt it. Expected: templates nesting ranges past a small depth are
// refused (a 400 naming the line), at once.
func TestPrintHostileNestedRangeIsExponential(t *testing.T) {
	app := printApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)
	nested := func(mark string) string {
		return strings.Repeat("{{range 1}}", 21) + mark + strings.Repeat("{{end}}", 21)
	}

	start := time.Now()
	res := admin.Post(previewPath, map[string]any{"doctype": "Sales Invoice", "name": name, "template": nested("preview")})
	assert.Less(t, time.Since(start), 10*time.Second, "preview of a 300-byte template")
	assert.Less(t, res.Status, 500)

	start = time.Now()
	res = admin.Post(printFormats, map[string]any{"name": "Nested", "doctype": "Sales Invoice", "template": nested("saved")})
	assert.Less(t, time.Since(start), 10*time.Second, "saving a 300-byte template")
	assert.Less(t, res.Status, 500)
}

// TestPrintHostileInternalFunctionsAreCallable: the rewrite's
// own functions (_fm_enter, _fm_leave, _fm_iter1, _fm_iter2) are in every
// template's FuncMap, so a template may call them: {{_fm_leave}} before a
// recursive {{template}} undoes the 64-deep limit (the run then recurses to
// text/template's 100,000 levels). Expected: a template naming them is
// refused when saved, like any undefined function.
func TestPrintHostileInternalFunctionsAreCallable(t *testing.T) {
	app := printApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	for _, src := range []string{
		`{{define "a"}}{{_fm_leave}}{{template "a"}}{{end}}{{template "a"}}`,
		`{{range _fm_iter1 3}}x{{end}}`,
	} {
		admin.Post(printFormats, map[string]any{"name": "Internal", "doctype": "Sales Invoice", "template": src}).
			RequireStatus(t, http.StatusBadRequest)
	}
}

// TestPrintHostileSettingsDateFormatBreaksPrinting: System
// Settings accept any non-empty date_format/time_format ("dd/mm/yyyy Q"),
// but the print filters refuse unknown tokens: afterwards every print that
// shows a date — the generated layout included — is a 400 blaming "the
// template", and each print of a saved format writes an Error Log row.
// Expected: System Settings refuse a format the filters cannot use (or the
// filters fall back to the default format).
func TestPrintHostileSettingsDateFormatBreaksPrinting(t *testing.T) {
	app := printApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)

	res := admin.Patch("/api/v1/resource/System%20Settings/System%20Settings", map[string]any{"date_format": "dd/mm/yyyy Q"})
	if res.Status == http.StatusBadRequest {
		return // refused: fixed
	}
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	ann.Get(printPath(name, "format=html")).RequireStatus(t, http.StatusOK)
}

// TestPrintHostileHeadConvertsAPDF: HEAD is served as a GET
// copy (headAsGet), so printHandler.write never sees MethodHead and a HEAD
// of a PDF print runs a whole conversion whose PDF is thrown away.
// Expected: no conversion for a HEAD.
func TestPrintHostileHeadConvertsAPDF(t *testing.T) {
	var conversions atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/convert/html") {
			conversions.Add(1)
			w.Header().Set("Content-Type", "application/pdf")
			_, _ = w.Write([]byte("%PDF-1.4 fake"))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(fake.Close)
	app := printApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Print.PDFBackend = "gotenberg"
		c.Print.GotenbergURL = fake.URL
	})
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)

	res := ann.Get(printPath(name, "")).RequireStatus(t, http.StatusOK)
	require.Equal(t, "application/pdf", res.Header.Get("Content-Type"))
	require.EqualValues(t, 1, conversions.Load())

	res = ann.Raw(http.MethodHead, printPath(name, ""), nil, nil)
	assert.Equal(t, http.StatusOK, res.Status)
	assert.EqualValues(t, 1, conversions.Load(), "HEAD converted a PDF")
}

// TestPrintHostileBrokenFormatCannotBeDisabled: the Print
// Format guard checks every template on every update, even when only
// "disabled" changes: once a "file:" template's file is gone, the format —
// possibly the DocType's default, failing every print — can be deleted but
// not disabled. Expected: disabling (an update that leaves the templates as
// they were) is accepted.
func TestPrintHostileBrokenFormatCannotBeDisabled(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "invoice.html")
	require.NoError(t, os.WriteFile(file, []byte("<p>{{.doc.customer}}</p>"), 0o600))
	app := printApp(t, fmtest.SQLite, func(c *config.Config) { c.Print.TemplateDir = dir })
	admin := app.As(fmtest.Admin())
	admin.Post(printFormats, map[string]any{"name": "FromFile", "doctype": "Sales Invoice", "template": "file:invoice.html", "is_default": true}).
		RequireStatus(t, http.StatusCreated)
	require.NoError(t, os.Remove(file))
	admin.Patch(printFormats+"/FromFile", map[string]any{"disabled": true}).RequireStatus(t, http.StatusOK)
}

// TestPrintHostileMetaRefreshFetches (needs the real Gotenberg,
// FM_TEST_GOTENBERG_URL): the page's CSP stops subresources but not
// navigation. <meta http-equiv="refresh" content="0;url=http://internal/">
// makes Gotenberg's Chromium load any URL it can reach and print it: the
// PDF holds the internal page (SSRF by whoever may write or preview a
// format). Expected: no request reaches the URL, and the PDF does not hold
// its answer.
func TestPrintHostileMetaRefreshFetches(t *testing.T) {
	var hits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<h1>INTERNAL-SECRET-PAGE</h1>"))
	}))
	t.Cleanup(internal.Close)
	app := printApp(t, fmtest.SQLite, func(c *config.Config) { fmtest.Gotenberg(t, c) })
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)

	res := admin.Post(previewPath, map[string]any{"doctype": "Sales Invoice", "name": name, "format": "pdf",
		"template": `<meta http-equiv="refresh" content="0;url=` + internal.URL + `/secret"><p>original</p>`})
	assert.Less(t, res.Status, 500)
	if res.Header.Get("Content-Type") == "application/pdf" {
		assert.NotContains(t, pdfText(t, res.Body, 0), "INTERNAL-SECRET-PAGE")
	}
	assert.Zero(t, hits.Load(), "Chromium fetched a URL the template named")
}
