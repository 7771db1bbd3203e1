// Package printtest holds the contract suites of the print ports: every
// ports.PDFConverter passes RunPDF and every ports.TemplateRenderer passes
// RunRenderer, the built-in ones and yours.
//
//	func TestMyConverter(t *testing.T) {
//		printtest.RunPDF(t, func(t *testing.T) ports.PDFConverter { return myconv.New(…) })
//	}
//
// The PDF's text is read with pdftotext (poppler-utils) when it is
// installed; without it those checks are skipped (failed under
// FM_REQUIRE_SERVERS).
package printtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// page is a document as the print service hands it to a converter.
func page(body string) []byte {
	return []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title><style>body{font-family:sans-serif}</style></head><body>` + body + `</body></html>`)
}

var mediaBox = regexp.MustCompile(`/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]`)

// pageSize is the first page's size in whole points, from its MediaBox.
func pageSize(t *testing.T, pdf []byte) (w, h int) {
	t.Helper()
	m := mediaBox.FindSubmatch(pdf)
	if m == nil {
		t.Fatalf("no /MediaBox in the PDF")
	}
	fw, _ := strconv.ParseFloat(string(m[1]), 64)
	fh, _ := strconv.ParseFloat(string(m[2]), 64)
	return int(fw + 0.5), int(fh + 0.5)
}

// pdfText is the text of page n (0: all), or "" and false without pdftotext.
func pdfText(t *testing.T, pdf []byte, n int) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("FM_REQUIRE_SERVERS") != "" {
			t.Fatalf("pdftotext (poppler-utils) is not installed but FM_REQUIRE_SERVERS is set")
		}
		return "", false
	}
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{}
	if n > 0 {
		args = append(args, "-f", strconv.Itoa(n), "-l", strconv.Itoa(n))
	}
	out, err := exec.Command(bin, append(args, path, "-")...).Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out), true
}

func convert(t *testing.T, c ports.PDFConverter, p ports.Rendered, o ports.PDFOptions) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := c.HTMLToPDF(ctx, p, o)
	if err != nil {
		t.Fatalf("HTMLToPDF: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read the PDF: %v", err)
	}
	if !bytes.HasPrefix(b, []byte("%PDF-")) || !bytes.Contains(b[max(0, len(b)-1024):], []byte("%%EOF")) {
		t.Fatalf("not a PDF: %.60q…", b)
	}
	return b
}

// RunPDF checks a PDF converter: the text of the page, page sizes and
// orientation, the header and footer on every page, refusals and
// cancellation.
func RunPDF(t *testing.T, newConverter func(t *testing.T) ports.PDFConverter) {
	t.Run("IsAvailable", func(t *testing.T) {
		if err := newConverter(t).IsAvailable(context.Background()); err != nil {
			t.Fatalf("IsAvailable: %v", err)
		}
	})
	t.Run("Text", func(t *testing.T) {
		pdf := convert(t, newConverter(t), ports.Rendered{HTML: page(`<h1>Contract Invoice</h1><p>Total due 1,234.50 (EUR)</p>`)}, ports.PDFOptions{PageSize: ports.PageA4})
		if txt, ok := pdfText(t, pdf, 0); ok {
			for _, want := range []string{"Contract Invoice", "Total due 1,234.50 (EUR)"} {
				if !strings.Contains(txt, want) {
					t.Errorf("the PDF's text lacks %q: %q", want, txt)
				}
			}
		}
	})
	t.Run("PageSizes", func(t *testing.T) {
		c := newConverter(t)
		for _, tc := range []struct {
			size      string
			landscape bool
			w, h      int
		}{
			{ports.PageA4, false, 595, 842}, {ports.PageLetter, false, 612, 792}, {ports.PageLetter, true, 792, 612},
			{ports.PageLegal, false, 612, 1008}, {ports.PageA5, true, 595, 420},
		} {
			pdf := convert(t, c, ports.Rendered{HTML: page("<p>size</p>")}, ports.PDFOptions{PageSize: tc.size, Landscape: tc.landscape})
			w, h := pageSize(t, pdf)
			if abs(w-tc.w) > 1 || abs(h-tc.h) > 1 {
				t.Errorf("%s landscape=%v: %dx%d points, want %dx%d", tc.size, tc.landscape, w, h, tc.w, tc.h)
			}
		}
	})
	t.Run("HeaderAndFooterOnEveryPage", func(t *testing.T) {
		var body strings.Builder
		for i := range 3 {
			body.WriteString(`<div style="page-break-after: always">Section ` + strconv.Itoa(i+1) + strings.Repeat("<p>filler line</p>", 90) + `</div>`)
		}
		pdf := convert(t, newConverter(t), ports.Rendered{
			HTML:   page(body.String()),
			Header: page(`<div style="font-size:10px">HEADERWORD</div>`),
			Footer: page(`<div style="font-size:10px">FOOTERWORD</div>`),
		}, ports.PDFOptions{PageSize: ports.PageA4, MarginTop: "25mm", MarginBottom: "25mm"})
		all, ok := pdfText(t, pdf, 0)
		if !ok {
			return
		}
		pages := strings.Count(all, "\f")
		if pages < 3 {
			t.Fatalf("%d pages, want at least 3", pages)
		}
		for n := 1; n <= pages; n++ {
			txt, _ := pdfText(t, pdf, n)
			if !strings.Contains(txt, "HEADERWORD") || !strings.Contains(txt, "FOOTERWORD") {
				t.Errorf("page %d lacks the header or footer: %q", n, txt)
			}
		}
	})
	t.Run("UnknownPageSizeIsRefused", func(t *testing.T) {
		_, err := newConverter(t).HTMLToPDF(context.Background(), ports.Rendered{HTML: page("x")}, ports.PDFOptions{PageSize: "B7"})
		if !errors.Is(err, core.ErrValidation) {
			t.Errorf("page size B7: %v, want a core.ErrValidation error", err)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := newConverter(t).HTMLToPDF(ctx, ports.Rendered{HTML: page("x")}, ports.PDFOptions{})
		if err == nil {
			r.Close()
			t.Fatal("a cancelled context converted anyway")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v, want context.Canceled", err)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// RunRenderer checks a template renderer: values escaped, the data it
// reads, syntax errors with their line, runaway templates cut off, the
// generated layout, header and footer placement.
func RunRenderer(t *testing.T, newRenderer func(t *testing.T) ports.TemplateRenderer) {
	data := ports.PrintData{
		Doc:      map[string]any{"name": "INV-1", "customer": `<script>alert("x")</script>`, "total": 12.5},
		Meta:     ports.PrintMeta{Name: "Invoice", Fields: []ports.PrintField{{Name: "customer", Label: "Customer", Kind: "data"}, {Name: "total", Label: "Total", Kind: "number"}}},
		Settings: map[string]any{"app_name": "Contract App"},
		User:     map[string]any{"name": "ann"},
	}
	ctx := context.Background()
	t.Run("Escapes", func(t *testing.T) {
		out, err := newRenderer(t).RenderHTMLString(ctx, `<p>{{.doc.customer}}</p>`, data)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "<script>") || !strings.Contains(out, "&lt;script&gt;") {
			t.Errorf("not escaped: %q", out)
		}
	})
	t.Run("Context", func(t *testing.T) {
		out, err := newRenderer(t).RenderHTMLString(ctx, `{{.doc.name}}|{{.meta.name}}|{{.settings.app_name}}|{{.user.name}}`, data)
		if err != nil || out != "INV-1|Invoice|Contract App|ann" {
			t.Errorf("context: %q, %v", out, err)
		}
	})
	t.Run("SyntaxErrorNamesTheLine", func(t *testing.T) {
		err := newRenderer(t).Check(ctx, "<p>\nok\n{{.doc.name")
		var te *ports.TemplateError
		if !errors.As(err, &te) || te.Line != 3 {
			t.Errorf("Check: %v, want a *ports.TemplateError on line 3", err)
		}
		if err := newRenderer(t).Check(ctx, `{{readFile "/etc/passwd"}}`); !errors.As(err, &te) {
			t.Errorf("a function that reads files: %v, want a *ports.TemplateError", err)
		}
	})
	t.Run("RunawayIsCutOff", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := newRenderer(t).RenderHTML(ctx, data, ports.PrintTemplate{Source: `{{range 2000000000}}{{end}}`})
			done <- err
		}()
		select {
		case err := <-done:
			var te *ports.TemplateError
			if !errors.As(err, &te) {
				t.Errorf("runaway: %v, want a *ports.TemplateError", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a runaway template still runs after a minute")
		}
	})
	t.Run("GeneratedLayout", func(t *testing.T) {
		out, err := newRenderer(t).RenderHTML(ctx, data, ports.PrintTemplate{})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Invoice INV-1", "Customer", "&lt;script&gt;", "Total", "12.5"} {
			if !bytes.Contains(out.HTML, []byte(want)) {
				t.Errorf("the generated layout lacks %q", want)
			}
		}
	})
	t.Run("HeaderAndFooter", func(t *testing.T) {
		tmpl := ports.PrintTemplate{Source: "<p>BODY</p>", HeaderHTML: "<b>HEAD {{.doc.name}}</b>", FooterHTML: "<i>FOOT</i>"}
		out, err := newRenderer(t).RenderHTML(ctx, data, tmpl)
		if err != nil {
			t.Fatal(err)
		}
		h, b, f := bytes.Index(out.HTML, []byte("HEAD INV-1")), bytes.Index(out.HTML, []byte("BODY")), bytes.Index(out.HTML, []byte("FOOT"))
		if h < 0 || b < 0 || f < 0 || h > b || b > f || len(out.Header) != 0 {
			t.Errorf("HTML: header, body and footer in order on the page, no header document: %q", out.HTML)
		}
		tmpl.Paged = true
		out, err = newRenderer(t).RenderHTML(ctx, data, tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out.HTML, []byte("HEAD")) || !bytes.Contains(out.Header, []byte("HEAD INV-1")) || !bytes.Contains(out.Footer, []byte("FOOT")) {
			t.Errorf("paged: the header and footer are documents of their own: %q / %q / %q", out.HTML, out.Header, out.Footer)
		}
	})
}
