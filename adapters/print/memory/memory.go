// Package memory is a PDF converter for tests (ports.PDFConverter) that
// needs no service: it writes a plain PDF of the page's text — tags
// stripped, Helvetica, the header and footer text on every page, the page
// size and orientation asked for — and remembers every conversion. Apps'
// tests print with it ([print] pdf_backend = "memory") and read the PDFs
// back with pdftotext, or look at Conversions. It is no HTML renderer:
// production uses Gotenberg.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Conversion is one HTMLToPDF call.
type Conversion struct {
	Page    ports.Rendered
	Options ports.PDFOptions
}

// Converter is the in-memory PDF converter.
type Converter struct {
	mu    sync.Mutex
	calls []Conversion
	down  error
}

// New returns a converter that is up.
func New() *Converter { return &Converter{} }

// SetDown makes every call fail with a core.Unavailable error wrapping err
// (nil: up again), to test what callers do while the service is down.
func (c *Converter) SetDown(err error) {
	c.mu.Lock()
	c.down = err
	c.mu.Unlock()
}

// Conversions returns the calls made so far.
func (c *Converter) Conversions() []Conversion {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Conversion(nil), c.calls...)
}

// IsAvailable answers nil unless the converter was set down.
func (c *Converter) IsAvailable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return core.Unavailable("pdf service", c.down)
	}
	return nil
}

// HTMLToPDF writes the text of page as a PDF laid out by opts (A4 when no
// page size is given).
func (c *Converter) HTMLToPDF(ctx context.Context, page ports.Rendered, opts ports.PDFOptions) (io.ReadCloser, error) {
	if err := c.IsAvailable(ctx); err != nil {
		return nil, err
	}
	size := opts.PageSize
	if size == "" {
		size = ports.PageA4
	}
	mm, ok := ports.PageSizes[size]
	if !ok {
		return nil, core.Invalidf("page_size", "unknown page size %q", size)
	}
	w, h := mm[0]*72/25.4, mm[1]*72/25.4
	if opts.Landscape {
		w, h = h, w
	}
	c.mu.Lock()
	c.calls = append(c.calls, Conversion{Page: page, Options: opts})
	c.mu.Unlock()
	return io.NopCloser(bytes.NewReader(write(w, h, text(page.HTML), text(page.Header), text(page.Footer), opts.Title))), nil
}

var (
	dropped = regexp.MustCompile(`(?is)<(head|style|script|title)\b.*?</(head|style|script|title)\s*>`)
	breaks  = regexp.MustCompile(`(?i)<(br|/p|/div|/tr|/h[1-6]|/li|/table|/header|/footer|/main)\b[^>]*>`)
	cells   = regexp.MustCompile(`(?i)</t[dh]\s*>`)
	tags    = regexp.MustCompile(`<[^>]*>`)
	spaces  = regexp.MustCompile(`[ \t\r\f\v]+`)
)

// text is the visible text of an HTML document, one line per block.
func text(doc []byte) []string {
	if len(doc) == 0 {
		return nil
	}
	s := dropped.ReplaceAllString(string(doc), "")
	s = breaks.ReplaceAllString(s, "\n")
	s = cells.ReplaceAllString(s, " ")
	s = html.UnescapeString(tags.ReplaceAllString(s, ""))
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(spaces.ReplaceAllString(l, " "))
		for len(l) > 95 {
			cut := strings.LastIndexByte(l[:95], ' ')
			if cut <= 0 {
				cut = 95
			}
			lines = append(lines, l[:cut])
			l = strings.TrimSpace(l[cut:])
		}
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// pdfString is s as a PDF literal string in WinAnsi: ASCII kept,
// parentheses and backslashes escaped, anything else '?'.
func pdfString(s string) string {
	var b strings.Builder
	b.WriteByte('(')
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 32 && r < 127:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	b.WriteByte(')')
	return b.String()
}

// write lays lines out on pages of w × h points and writes the PDF.
func write(w, h float64, lines, header, footer []string, title string) []byte {
	const size, lead, margin = 10.0, 13.0, 40.0
	top := h - margin - float64(len(header))*lead
	bottom := margin + float64(len(footer))*lead
	perPage := max(1, int((top-bottom)/lead))
	var pages [][]string
	for len(lines) > perPage {
		pages = append(pages, lines[:perPage])
		lines = lines[perPage:]
	}
	pages = append(pages, lines)

	var objs []string // object n is objs[n-1]
	add := func(s string) int { objs = append(objs, s); return len(objs) }
	add("<< /Type /Catalog /Pages 2 0 R >>")
	add("") // the page tree, once the pages are known
	font := add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	info := add("<< /Title " + pdfString(title) + " /Producer (framework-m memory converter) >>")
	var kids []string
	for _, p := range pages {
		var content strings.Builder
		put := func(y float64, l string) {
			fmt.Fprintf(&content, "BT /F1 %g Tf %g %g Td %s Tj ET\n", size, margin, y, pdfString(l))
		}
		for i, l := range header {
			put(h-margin-float64(i)*lead, l)
		}
		for i, l := range p {
			put(top-lead-float64(i)*lead, l)
		}
		for i, l := range footer {
			put(margin+float64(len(footer)-1-i)*lead, l)
		}
		stream := content.String()
		c := add(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(stream), stream))
		pg := add(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> >> >>", w, h, c, font))
		kids = append(kids, fmt.Sprintf("%d 0 R", pg))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))

	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, info, xref)
	return b.Bytes()
}

var _ ports.PDFConverter = (*Converter)(nil)
