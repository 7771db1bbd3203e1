package ports

import (
	"context"
	"fmt"
	"io"
)

// PrintTemplate is what a print format gives the renderer: the template of
// the page and of its header and footer, and the page's style.
type PrintTemplate struct {
	// Name names the format in error messages ("" for a generated or
	// previewed one).
	Name string
	// Source is the template's text, or "file:<path>" for a file under the
	// renderer's template directory (never outside it).
	Source string
	// CSS is added to the page's <head> in a <style> element.
	CSS string
	// HeaderHTML and FooterHTML are templates, rendered with the same data,
	// repeated on every page of a PDF (at the top and bottom of an HTML page).
	HeaderHTML string
	FooterHTML string
	// Paged renders for a PDF converter: the header and footer become
	// documents of their own (Rendered.Header, Rendered.Footer), repeated on
	// every page. Otherwise they are part of Rendered.HTML, above and below
	// the page's content.
	Paged bool
}

// PrintMeta describes the printed document's DocType to templates.
type PrintMeta struct {
	// Name is the DocType's name ("Invoice").
	Name string `json:"name"`
	// Fields lists the fields a generated layout shows, in order.
	Fields []PrintField `json:"fields"`
}

// PrintField is one field of a PrintMeta.
type PrintField struct {
	// Name is the field's JSON name; Label is the name for humans.
	Name  string `json:"name"`
	Label string `json:"label"`
	// Kind is "data", "number", "money", "date", "datetime", "check",
	// "table" (a child list) or "json".
	Kind string `json:"kind"`
	// Fields are the columns of a "table" field.
	Fields []PrintField `json:"fields,omitempty"`
}

// PrintData is what a template reads: its whole context. Templates read
// maps keyed by JSON field names: {{.doc.customer}}.
type PrintData struct {
	// Doc is the document in its API form (values of their Go types:
	// numbers, time.Time, decimals, child lists as []map[string]any).
	Doc map[string]any
	// Meta describes Doc's DocType.
	Meta PrintMeta
	// Format is the print format's own fields (empty for a generated one).
	Format map[string]any
	// Settings are the tenant's System Settings; the date, datetime and
	// currency filters follow their timezone, date_format and time_format.
	Settings map[string]any
	// User is the printing user: name, email, full_name.
	User map[string]any
}

// Rendered is a rendered print: full HTML documents, each with its <head>.
type Rendered struct {
	// HTML is the page.
	HTML []byte
	// Header and Footer are the header and footer documents of a Paged
	// render (empty otherwise, or when the format has none), which a PDF
	// converter repeats on every page.
	Header []byte
	Footer []byte
}

// TemplateRenderer turns documents into HTML. Rendering is sandboxed: a
// template reads only its PrintData (no files, no network, no environment);
// a template that runs past the renderer's time or output limits is cut off.
// Values are escaped for their place in the HTML.
type TemplateRenderer interface {
	// Check parses source (template text or "file:<path>") and reports a
	// *TemplateError naming the line and reason when it is not a valid
	// template, a missing or disallowed file included.
	Check(ctx context.Context, source string) error
	// RenderHTML renders data through t; a zero t.Source renders the
	// default layout generated from data.Meta. Errors are *TemplateError
	// for the template's faults (a bad template, a runaway one).
	RenderHTML(ctx context.Context, data PrintData, t PrintTemplate) (Rendered, error)
	// RenderHTMLString renders one template string against data and returns
	// the HTML it writes (no page around it).
	RenderHTMLString(ctx context.Context, source string, data PrintData) (string, error)
}

// TemplateError is a template's fault: where and why. It matches
// core.ErrValidation in the core's error mapping (see core/print).
type TemplateError struct {
	// Template names the format or part ("header_html").
	Template string
	// Line is the 1-based line of the fault, 0 when unknown.
	Line int
	// Reason says what is wrong, for the template's author.
	Reason string
}

// Error names the template, line and reason.
func (e *TemplateError) Error() string {
	where := "template"
	if e.Template != "" {
		where = fmt.Sprintf("template %q", e.Template)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %s", where, e.Line, e.Reason)
	}
	return where + ": " + e.Reason
}

// Page sizes a print format may choose.
const (
	PageA4     = "A4"
	PageLetter = "Letter"
	PageLegal  = "Legal"
	PageA3     = "A3"
	PageA5     = "A5"
)

// PageSizes maps each page size to its portrait width and height in
// millimetres.
var PageSizes = map[string][2]float64{
	PageA4:     {210, 297},
	PageLetter: {215.9, 279.4},
	PageLegal:  {215.9, 355.6},
	PageA3:     {297, 420},
	PageA5:     {148, 210},
}

// PDFOptions lay out the pages of a PDF.
type PDFOptions struct {
	// PageSize is one of PageSizes' keys.
	PageSize string
	// Landscape turns the page.
	Landscape bool
	// Margins are CSS lengths with a unit ("10mm", "0.5in"; mm, cm, in, pt,
	// px); "" is the converter's default.
	MarginTop, MarginBottom, MarginLeft, MarginRight string
	// Title is the PDF's title.
	Title string
}

// PDFConverter turns HTML into PDF in a separate service, never in the app
// process. Errors: core.Unavailable errors when the service cannot be
// reached, is overloaded or does not answer in time (callers fall back to
// HTML); core.ErrValidation when it refuses the input.
type PDFConverter interface {
	// HTMLToPDF converts the rendered page, with its header and footer on
	// every page, and streams the PDF back: the caller reads and closes it.
	HTMLToPDF(ctx context.Context, page Rendered, opts PDFOptions) (io.ReadCloser, error)
	// IsAvailable answers nil when the service answers its health check.
	IsAvailable(ctx context.Context) error
}
