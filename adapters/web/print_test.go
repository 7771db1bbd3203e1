package web_test

import (
	"bufio"
	"bytes"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
)

// SalesInvoice is the printed DocType of these tests: a name with a space,
// money, a date and child rows.
type SalesInvoice struct {
	doctype.Base
	Customer    string          `json:"customer"`
	Total       doctype.Decimal `json:"total"`
	Currency    string          `json:"currency" gorm:"size:3"`
	PostingDate time.Time       `json:"posting_date"`
	Paid        bool            `json:"paid"`
	Items       []InvoiceLine   `json:"items" gorm:"serializer:json"`
}

// InvoiceLine is a child row of SalesInvoice.
type InvoiceLine struct {
	Item string          `json:"item"`
	Qty  int             `json:"qty"`
	Rate doctype.Decimal `json:"rate"`
}

var salesInvoiceMeta = doctype.Meta{
	Name: "Sales Invoice",
	Permissions: []doctype.Rule{
		{Role: "Accounts", Actions: doctype.Read | doctype.Create | doctype.Write, IfOwner: true},
	},
}

const (
	invoices     = "/api/v1/resource/Sales%20Invoice"
	printFormats = "/api/v1/resource/Print%20Format"
)

func printPath(name string, q string) string {
	p := "/api/v1/print/Sales%20Invoice/" + url.PathEscape(name)
	if q != "" {
		p += "?" + q
	}
	return p
}

// newInvoice creates an invoice as c and returns its name.
func newInvoice(t *testing.T, c *fmtest.Client, customer string, lines int) string {
	t.Helper()
	items := make([]map[string]any, lines)
	for i := range items {
		items[i] = map[string]any{"item": "Widget-" + strconv.Itoa(i+1), "qty": i + 1, "rate": "12.50"}
	}
	return c.Post(invoices, map[string]any{
		"customer": customer, "total": "1234.5", "currency": "EUR",
		"posting_date": "2026-03-01T10:00:00Z", "paid": true, "items": items,
	}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
}

func printApp(t *testing.T, driver fmtest.Driver, edit func(*config.Config)) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	if edit != nil {
		edit(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[SalesInvoice](salesInvoiceMeta))
}

// TestPrintHTML: a reader prints a document to HTML with the generated
// layout: fields escaped, child rows as a table, a safe filename, sandboxed
// and never cached; others get 404 and bad requests 400.
func TestPrintHTML(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := printApp(t, driver, nil)
			ann := app.As(fmtest.User("ann", "Accounts"))
			name := newInvoice(t, ann, `<script>alert("x")</script> & Co`, 3)

			res := ann.Get(printPath(name, "format=html")).RequireStatus(t, http.StatusOK)
			body := string(res.Body)
			assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
			assert.Equal(t, `inline; filename=Sales_Invoice-`+name+`.html`, res.Header.Get("Content-Disposition"))
			assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			assert.Contains(t, res.Header.Get("Content-Security-Policy"), "sandbox")
			assert.Contains(t, res.Header.Get("Cache-Control"), "no-store")
			assert.Empty(t, res.Header.Get("X-Print-Warning"))
			assert.NotContains(t, body, `<script>alert`, "a field's markup is escaped")
			assert.Contains(t, body, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co`)
			assert.Contains(t, body, "<title>Sales Invoice "+name+"</title>")
			for _, want := range []string{"Customer", "Posting Date", "2026-03-01 10:00:00", "1,234.5", "Yes", "Widget-3", "12.50"} {
				assert.Contains(t, body, want)
			}

			// PDF asked, no converter configured: the HTML, saying why.
			res = ann.Get(printPath(name, "")).RequireStatus(t, http.StatusOK)
			assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
			assert.Contains(t, res.Header.Get("X-Print-Warning"), "not configured")

			bob := app.As(fmtest.User("bob", "Accounts"))
			bob.Get(printPath(name, "format=html")).RequireStatus(t, http.StatusNotFound)
			app.Anonymous().Get(printPath(name, "format=html")).RequireStatus(t, http.StatusUnauthorized)
			ann.Get(printPath("nope", "format=html")).RequireStatus(t, http.StatusNotFound)
			ann.Get("/api/v1/print/Nope/"+name).RequireStatus(t, http.StatusNotFound)
			ann.Get(printPath(name, "format=docx")).RequireStatus(t, http.StatusBadRequest)
			ann.Get(printPath(name, "format=html&format=pdf")).RequireStatus(t, http.StatusBadRequest)
			ann.Get(printPath(name, "print_format="+strings.Repeat("x", 300))).RequireStatus(t, http.StatusBadRequest)
			e := ann.Get(printPath(name, "format=html&print_format=Missing")).RequireStatus(t, http.StatusNotFound).Err(t)
			assert.Contains(t, e.Error.Message, "Missing")
		})
	}
}

// TestPrintFormatsAreCheckedWhenSaved: a template that does not parse, that
// calls a function that does not exist (reading a file) or that names a file
// outside the template directory is refused with a 400 naming the field and
// line, and nothing is saved; one DocType has one enabled default.
func TestPrintFormatsAreCheckedWhenSaved(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := printApp(t, driver, nil)
			admin := app.As(fmtest.Admin())
			for _, tc := range []struct {
				name   string
				body   map[string]any
				field  string
				reason string
			}{
				{"unclosed action", map[string]any{"template": "<p>\n<b>\n{{.doc.customer</b>"}, "template", "line 3"},
				{"read a file", map[string]any{"template": `{{readFile "/etc/passwd"}}`}, "template", `function "readFile" not defined`},
				{"environment", map[string]any{"footer_html": "ok\n{{env \"HOME\"}}"}, "footer_html", `line 2: function "env" not defined`},
				{"traversal", map[string]any{"template": "file:../../etc/passwd"}, "template", "template_dir"},
				{"unknown doctype", map[string]any{"doctype": "Nope", "template": "x"}, "doctype", "Nope"},
				{"page size", map[string]any{"page_size": "B5"}, "page_size", "A4"},
				{"margin", map[string]any{"margin_top": "10"}, "margin_top", "unit"},
				{"orientation", map[string]any{"orientation": "sideways"}, "orientation", "landscape"},
			} {
				body := map[string]any{"name": "Bad " + tc.name, "doctype": "Sales Invoice"}
				for k, v := range tc.body {
					body[k] = v
				}
				e := admin.Post(printFormats, body).RequireStatus(t, http.StatusBadRequest).Err(t)
				assert.Contains(t, e.Error.Fields[tc.field], tc.reason, tc.name)
			}
			_, total := admin.Get(printFormats).RequireStatus(t, http.StatusOK).List(t)
			assert.Zero(t, total, "nothing was saved")

			admin.Post(printFormats, map[string]any{"name": "Standard", "doctype": "Sales Invoice", "template": "<p>standard {{.doc.customer}}</p>", "is_default": true}).
				RequireStatus(t, http.StatusCreated)
			e := admin.Post(printFormats, map[string]any{"name": "Other", "doctype": "Sales Invoice", "template": "<p>other</p>", "is_default": true}).
				RequireStatus(t, http.StatusConflict).Err(t)
			assert.Contains(t, e.Error.Message, "Standard")
			admin.Post(printFormats, map[string]any{"name": "Other", "doctype": "Sales Invoice", "template": "<p>other {{.doc.customer}}</p>"}).
				RequireStatus(t, http.StatusCreated)
			admin.Patch(printFormats+"/Other", map[string]any{"is_default": true}).RequireStatus(t, http.StatusConflict)
			admin.Patch(printFormats+"/Other", map[string]any{"template": "{{if}}"}).RequireStatus(t, http.StatusBadRequest)

			ann := app.As(fmtest.User("ann", "Accounts"))
			name := newInvoice(t, ann, "Acme", 1)
			assert.Contains(t, string(ann.Get(printPath(name, "format=html")).RequireStatus(t, http.StatusOK).Body), "standard Acme", "the default")
			assert.Contains(t, string(ann.Get(printPath(name, "format=html&print_format=Other")).RequireStatus(t, http.StatusOK).Body), "other Acme", "the named one")
			ann.Post(printFormats, map[string]any{"name": "Mine", "doctype": "Sales Invoice", "template": "x"}).RequireStatus(t, http.StatusForbidden)

			// Disabling the default makes room for another; the disabled one is no longer usable.
			admin.Patch(printFormats+"/Standard", map[string]any{"disabled": true}).RequireStatus(t, http.StatusOK)
			ann.Get(printPath(name, "format=html&print_format=Standard")).RequireStatus(t, http.StatusNotFound)
			assert.Contains(t, string(ann.Get(printPath(name, "format=html")).RequireStatus(t, http.StatusOK).Body), "<h1>Sales Invoice", "no default left: the generated layout")
			admin.Patch(printFormats+"/Other", map[string]any{"is_default": true}).RequireStatus(t, http.StatusOK)
			assert.Contains(t, string(ann.Get(printPath(name, "format=html")).RequireStatus(t, http.StatusOK).Body), "other Acme")
		})
	}
}

// TestPrintRunawayTemplate: a saved format that loops forever or floods
// its output fails cleanly — a 400 naming why, an Error Log row for the
// operator — instead of hanging the request or the process.
func TestPrintRunawayTemplate(t *testing.T) {
	app := printApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)
	// (The step budget or the time limit, whichever comes first: under
	// the race detector a million steps may take longer than 2 s.)
	for _, tc := range []struct{ template, reason string }{
		{"{{range 1000000000}}{{end}}", `(loop iterations|time limit)`},
		{`{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`, `(deep|loop iterations|time limit)`},
		{`{{range 10000000}}<p>flood flood flood flood flood flood flood flood</p>{{end}}`, `(wrote more than|time limit)`},
	} {
		admin.Post(printFormats, map[string]any{"name": "Runaway", "doctype": "Sales Invoice", "template": tc.template}).RequireStatus(t, http.StatusCreated)
		before := errorLogs(t, app)
		start := time.Now()
		e := ann.Get(printPath(name, "format=html&print_format=Runaway")).RequireStatus(t, http.StatusBadRequest).Err(t)
		assert.Less(t, time.Since(start), 20*time.Second, "cut off, not hung")
		assert.Regexp(t, tc.reason, e.Error.Message, tc.template)
		assert.Contains(t, e.Error.Message, "Runaway")
		assert.Equal(t, before+1, errorLogs(t, app), "the operator sees it")
		admin.Delete(printFormats+"/Runaway").RequireStatus(t, http.StatusOK)
	}
}

// TestPrintPreview: format authors (write on Print Format) render a draft
// against a document they may read; template faults are 400s naming the
// line, and others are refused.
func TestPrintPreview(t *testing.T) {
	app := printApp(t, fmtest.SQLite, nil)
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme <Ltd>", 2)

	res := admin.Post("/api/v1/print/preview", map[string]any{
		"doctype": "Sales Invoice", "name": name,
		"template": `<p>{{.doc.customer}} owes {{currency .doc.total .doc.currency}}</p>{{range .doc.items}}<i>{{.item}}</i>{{end}}`,
		"css":      "p{color:red}</style><script>alert(1)</script>", "header_html": "<b>HEAD {{.doc.name}}</b>",
	}).RequireStatus(t, http.StatusOK)
	body := string(res.Body)
	assert.Contains(t, body, "Acme &lt;Ltd&gt; owes €1,234.50")
	assert.Contains(t, body, "<i>Widget-1</i><i>Widget-2</i>")
	assert.Contains(t, body, "HEAD "+name, "the header is part of an HTML page")
	assert.NotContains(t, body, "</style><script>", "CSS cannot end its style element")

	e := admin.Post("/api/v1/print/preview", map[string]any{"doctype": "Sales Invoice", "name": name, "template": "ok\n{{range}}"}).
		RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Fields["template"], "line 2")
	admin.Post("/api/v1/print/preview", map[string]any{"doctype": "Sales Invoice", "name": name, "template": "{{.doc.total | currency}}", "format": "docx"}).
		RequireStatus(t, http.StatusBadRequest)
	admin.Post("/api/v1/print/preview", map[string]any{"doctype": "Sales Invoice", "template": "x"}).RequireStatus(t, http.StatusBadRequest)
	admin.Post("/api/v1/print/preview", map[string]any{"doctype": "Sales Invoice", "name": name, "template": "x", "extra": 1}).RequireStatus(t, http.StatusBadRequest)
	admin.Post("/api/v1/print/preview", map[string]any{"doctype": "Sales Invoice", "name": "missing", "template": "x"}).RequireStatus(t, http.StatusNotFound)
	ann.Post("/api/v1/print/preview", map[string]any{"doctype": "Sales Invoice", "name": name, "template": "x"}).RequireStatus(t, http.StatusForbidden)
	// A runaway draft is the author's fault: a 400, and no Error Log.
	before := errorLogs(t, app)
	e = admin.Post("/api/v1/print/preview", map[string]any{"doctype": "Sales Invoice", "name": name, "template": "{{range 2000000000}}{{end}}"}).
		RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Regexp(t, `(loop iterations|time limit)`, e.Error.Message)
	assert.Equal(t, before, errorLogs(t, app))
}

// TestPrintFallsBackWhenGotenbergIsDown: with the PDF service unreachable,
// a PDF request answers the HTML with X-Print-Warning, quickly.
func TestPrintFallsBackWhenGotenbergIsDown(t *testing.T) {
	app := printApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Print.PDFBackend = "gotenberg"
		c.Print.GotenbergURL = "http://127.0.0.1:" + strconv.Itoa(closedPort(t))
		c.Print.TimeoutMS = 2000
	})
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)
	for range 3 {
		start := time.Now()
		res := ann.Get(printPath(name, "format=pdf")).RequireStatus(t, http.StatusOK)
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
		assert.Contains(t, res.Header.Get("X-Print-Warning"), "unavailable")
		assert.Contains(t, res.Header.Get("Content-Disposition"), ".html")
		assert.Contains(t, string(res.Body), "Acme")
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// pdfText is the text of page (0: all pages) of a PDF, by pdftotext.
func pdfText(t *testing.T, pdf []byte, page int) string {
	t.Helper()
	args := []string{"-layout"}
	if page > 0 {
		args = append(args, "-f", strconv.Itoa(page), "-l", strconv.Itoa(page))
	}
	path := filepath.Join(t.TempDir(), "doc.pdf")
	require.NoError(t, os.WriteFile(path, pdf, 0o600))
	out, err := exec.Command("pdftotext", append(args, path, "-")...).Output()
	require.NoError(t, err, "pdftotext (poppler-utils) must be installed with Gotenberg")
	return string(out)
}

// pdfInfo is pdfinfo's page count and page size in whole points
// ("595x842"; Chromium rounds the millimetres of A4 to 596 or 595).
func pdfInfo(t *testing.T, pdf []byte) (pages int, size string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "info.pdf")
	require.NoError(t, os.WriteFile(path, pdf, 0o600))
	out, err := exec.Command("pdfinfo", path).Output()
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Pages":
			pages, _ = strconv.Atoi(v)
		case "Page size":
			if m := regexp.MustCompile(`^([0-9.]+) x ([0-9.]+) pts`).FindStringSubmatch(v); m != nil {
				w, _ := strconv.ParseFloat(m[1], 64)
				h, _ := strconv.ParseFloat(m[2], 64)
				size = strconv.Itoa(int(w)) + "x" + strconv.Itoa(int(h))
			}
		}
	}
	return pages, size
}

// TestPrintPDF, against the real Gotenberg: the PDF's text holds the
// document's fields; Letter and landscape change the page size; the header
// and footer are on every page.
func TestPrintPDF(t *testing.T) {
	app := printApp(t, fmtest.SQLite, func(c *config.Config) { fmtest.Gotenberg(t, c) })
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Globex Corporation", 3)

	res := ann.Get(printPath(name, "")).RequireStatus(t, http.StatusOK)
	require.Equal(t, "application/pdf", res.Header.Get("Content-Type"), "warning: %s", res.Header.Get("X-Print-Warning"))
	assert.Equal(t, "inline; filename=Sales_Invoice-"+name+".pdf", res.Header.Get("Content-Disposition"))
	assert.Empty(t, res.Header.Get("X-Print-Warning"))
	require.True(t, bytes.HasPrefix(res.Body, []byte("%PDF-")))
	text := pdfText(t, res.Body, 0)
	for _, want := range []string{"Globex Corporation", name, "Widget-2", "1,234.5"} {
		assert.Contains(t, text, want)
	}
	_, size := pdfInfo(t, res.Body)
	assert.Contains(t, []string{"595x841", "595x842", "596x842"}, size, "A4 by default")

	admin.Post(printFormats, map[string]any{"name": "Letter Wide", "doctype": "Sales Invoice", "page_size": "Letter", "orientation": "landscape",
		"template": "<h1>{{.doc.customer}}</h1>"}).RequireStatus(t, http.StatusCreated)
	res = ann.Get(printPath(name, "print_format=Letter%20Wide")).RequireStatus(t, http.StatusOK)
	require.Equal(t, "application/pdf", res.Header.Get("Content-Type"))
	_, size = pdfInfo(t, res.Body)
	assert.Equal(t, "792x612", size, "Letter, landscape")

	admin.Post(printFormats, map[string]any{"name": "Paged", "doctype": "Sales Invoice", "margin_top": "25mm", "margin_bottom": "25mm",
		"template":    `{{range .doc.items}}<div style="page-break-after: always">Line {{.item}}</div>{{end}}<p>Total {{currency .doc.total .doc.currency}}</p>`,
		"header_html": `<div style="font-size:10px">HEADERMARK {{.doc.name}}</div>`,
		"footer_html": `<div style="font-size:10px">FOOTERMARK page <span class="pageNumber"></span> of <span class="totalPages"></span></div>`,
	}).RequireStatus(t, http.StatusCreated)
	res = ann.Get(printPath(name, "print_format=Paged")).RequireStatus(t, http.StatusOK)
	require.Equal(t, "application/pdf", res.Header.Get("Content-Type"))
	pages, _ := pdfInfo(t, res.Body)
	require.GreaterOrEqual(t, pages, 3)
	for p := 1; p <= pages; p++ {
		text := pdfText(t, res.Body, p)
		assert.Contains(t, text, "HEADERMARK "+name, "page %d", p)
		assert.Contains(t, text, "FOOTERMARK page "+strconv.Itoa(p)+" of "+strconv.Itoa(pages), "page %d", p)
	}
	assert.Contains(t, pdfText(t, res.Body, pages), "Total €1,234.50")
}

// TestPrintSlowGotenberg: a Gotenberg that stops answering (SIGSTOP) makes
// PDF requests time out into the HTML fallback — no request hangs — and
// PDFs come back once it answers again. It runs a Gotenberg of its own
// (FM_TEST_GOTENBERG_START, the start script .ci/run uses), since stopping
// the shared one would stall other tests.
func TestPrintSlowGotenberg(t *testing.T) {
	start := fmtest.SkipUnlessServer(t, "FM_TEST_GOTENBERG_START", "Gotenberg (private instance)")
	work, err := os.MkdirTemp("/tmp", "fm-gotenberg-")
	require.NoError(t, err)
	out, err := exec.Command(start, strconv.Itoa(closedPort(t)), work).Output()
	require.NoError(t, err, "start Gotenberg: %s", out)
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	pid, err := strconv.Atoi(vars["GOTENBERG_PID"])
	require.NoError(t, err, "start printed %q", out)
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = exec.Command(filepath.Join(filepath.Dir(start), "stop"), work).Run()
	})

	// Chromium starts with the first conversion: not the app's.
	require.Eventually(t, func() bool {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		w, _ := mw.CreateFormFile("files", "index.html")
		_, _ = w.Write([]byte("<p>warm</p>"))
		_ = mw.Close()
		res, err := http.Post(vars["GOTENBERG_URL"]+"/forms/chromium/convert/html", mw.FormDataContentType(), &body)
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 60*time.Second, 500*time.Millisecond, "Gotenberg converts")

	app := printApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Print.PDFBackend = "gotenberg"
		c.Print.GotenbergURL = vars["GOTENBERG_URL"]
		c.Print.TimeoutMS = 3000
	})
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Initech", 1)
	res := ann.Get(printPath(name, "")).RequireStatus(t, http.StatusOK)
	require.Equal(t, "application/pdf", res.Header.Get("Content-Type"), "warning: %s", res.Header.Get("X-Print-Warning"))

	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	for i := range 3 {
		begin := time.Now()
		res = ann.Get(printPath(name, "")).RequireStatus(t, http.StatusOK)
		took := time.Since(begin)
		assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"), "request %d", i)
		assert.Contains(t, res.Header.Get("X-Print-Warning"), "unavailable")
		assert.Contains(t, string(res.Body), "Initech")
		assert.Less(t, took, 8*time.Second, "request %d: bounded by the timeout", i)
	}

	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
	require.Eventually(t, func() bool {
		res := ann.Get(printPath(name, ""))
		return res.Status == http.StatusOK && res.Header.Get("Content-Type") == "application/pdf"
	}, 30*time.Second, 500*time.Millisecond, "PDFs again once Gotenberg answers")
}

// TestPrintFileTemplates: a format may name a file under [print]
// template_dir; one that is gone when printing fails cleanly, with an
// Error Log row, and one outside the directory is never read.
func TestPrintFileTemplates(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "invoice.html"), []byte(`<p>From file: {{.doc.customer}}</p>`), 0o600))
	outside := filepath.Join(t.TempDir(), "secret.html")
	require.NoError(t, os.WriteFile(outside, []byte("SECRET"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link.html")))
	app := printApp(t, fmtest.SQLite, func(c *config.Config) { c.Print.TemplateDir = dir })
	admin := app.As(fmtest.Admin())
	ann := app.As(fmtest.User("ann", "Accounts"))
	name := newInvoice(t, ann, "Acme", 1)

	admin.Post(printFormats, map[string]any{"name": "File", "doctype": "Sales Invoice", "template": "file:invoice.html"}).RequireStatus(t, http.StatusCreated)
	assert.Contains(t, string(ann.Get(printPath(name, "format=html&print_format=File")).RequireStatus(t, http.StatusOK).Body), "From file: Acme")
	for _, path := range []string{"file:link.html", "file:../" + filepath.Base(filepath.Dir(outside)) + "/secret.html", "file:" + outside, "file:missing.html"} {
		e := admin.Post(printFormats, map[string]any{"name": "Bad", "doctype": "Sales Invoice", "template": path}).RequireStatus(t, http.StatusBadRequest).Err(t)
		assert.NotContains(t, e.Error.Message, "SECRET", path)
	}

	require.NoError(t, os.Remove(filepath.Join(dir, "invoice.html")))
	before := errorLogs(t, app)
	e := ann.Get(printPath(name, "format=html&print_format=File")).RequireStatus(t, http.StatusBadRequest).Err(t)
	assert.Contains(t, e.Error.Message, "does not exist")
	assert.Equal(t, before+1, errorLogs(t, app), "the operator sees the broken format")
}
