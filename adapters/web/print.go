package web

import (
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/core/openapi"
	printing "github.com/framework-m/framework-m/core/print"
	"github.com/framework-m/framework-m/doctypes"
)

// HeaderPrintWarning says why a PDF request was answered with HTML.
const HeaderPrintWarning = "X-Print-Warning"

// printCSP sandboxes printed HTML: no script runs, nothing is fetched,
// whatever a format's author wrote.
const printCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"

// printHandler serves the print API.
type printHandler struct {
	print   *printing.Service
	maxBody int64
}

// bindPrint registers GET /print/{doctype}/{name} and POST /print/preview.
func bindPrint(api *echo.Group, svc *printing.Service, maxBody int64, docs *routeDocs) {
	if svc == nil {
		return
	}
	h := printHandler{print: svc, maxBody: maxBody}
	printed := func(description string) map[string]*openapi.Response {
		return replies(status{"200", &openapi.Response{Description: description,
			Headers: map[string]*openapi.Header{HeaderPrintWarning: {Description: "why a PDF was asked for but HTML came (no converter answered)", Schema: str()}},
			Content: map[string]*openapi.MediaType{"application/pdf": {}, "text/html": {Schema: str()}}}})
	}
	get := route{tag: "Print", summary: "Print a document as PDF or HTML",
		params: []*openapi.Parameter{query("format", "pdf or html (the print format's default when absent)", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("print_format", "the Print Format to use (the DocType's default when absent)", &openapi.Schema{Type: "string", MaxLength: new(140)})},
		responses: printed("the printed document")}
	docs.add(api.GET("/print/:doctype/:name", h.get, RequireUser), get)
	get.summary = "Check a document can be printed (no render nor conversion)"
	docs.add(api.HEAD("/print/:doctype/:name", h.get, RequireUser), get) // the checks, no render nor conversion
	docs.add(api.POST("/print/preview", h.preview, RequireUser), route{tag: "Print", summary: "Preview a draft print format on a document",
		body: jsonBody(inputOf[previewBody]()), responses: printed("the preview")})
}

// get answers GET /print/{doctype}/{name}?format=pdf|html&print_format=NAME.
func (h printHandler) get(c echo.Context) error {
	q := c.QueryParams()
	verr := &core.ValidationError{}
	for _, k := range []string{"format", "print_format"} {
		if len(q[k]) > 1 {
			verr.Add(k, "must be given once")
		}
		if len(q.Get(k)) > 140 {
			verr.Add(k, "must be at most 140 characters")
		}
	}
	if err := verr.Err(); err != nil {
		return err
	}
	res, err := h.print.Print(c.Request().Context(), printing.Request{
		DocType: param(c, "doctype"), Name: param(c, "name"),
		Format: q.Get("format"), PrintFormat: q.Get("print_format"),
		HeadOnly: c.Request().Method == http.MethodHead,
	})
	if err != nil {
		return err
	}
	return h.write(c, res)
}

// previewBody is POST /print/preview's body: the document and the draft.
type previewBody struct {
	DocType      string `json:"doctype"`
	Name         string `json:"name"`
	Format       string `json:"format"`
	Template     string `json:"template"`
	CSS          string `json:"css"`
	HeaderHTML   string `json:"header_html"`
	FooterHTML   string `json:"footer_html"`
	PageSize     string `json:"page_size"`
	Orientation  string `json:"orientation"`
	MarginTop    string `json:"margin_top"`
	MarginBottom string `json:"margin_bottom"`
	MarginLeft   string `json:"margin_left"`
	MarginRight  string `json:"margin_right"`
}

// preview answers POST /print/preview: an unsaved format's print of a
// document (HTML unless "format": "pdf").
func (h printHandler) preview(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var b previewBody
	if err := decodeStrict(body, &b); err != nil {
		return strictOr(err, core.Invalid("body", `must be {"doctype": "...", "name": "...", "template": "...", "format": "html"} (css, header_html, footer_html, page_size, orientation and margin_* optional)`))
	}
	verr := &core.ValidationError{}
	if b.DocType == "" {
		verr.Add("doctype", "is required")
	}
	if b.Name == "" {
		verr.Add("name", "is required")
	}
	if err := verr.Err(); err != nil {
		return err
	}
	res, err := h.print.Preview(c.Request().Context(), printing.Preview{
		DocType: b.DocType, Name: b.Name, Format: b.Format,
		Draft: doctypes.PrintFormat{
			Template: b.Template, CSS: b.CSS, HeaderHTML: b.HeaderHTML, FooterHTML: b.FooterHTML,
			PageSize: b.PageSize, Orientation: b.Orientation,
			MarginTop: b.MarginTop, MarginBottom: b.MarginBottom, MarginLeft: b.MarginLeft, MarginRight: b.MarginRight,
		},
	})
	if err != nil {
		return err
	}
	return h.write(c, res)
}

// write sends a print: inline, private, never sniffed, sandboxed.
func (h printHandler) write(c echo.Context, res *printing.Result) error {
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, res.ContentType)
	hdr.Set(echo.HeaderContentDisposition, files.Disposition(res.Filename, true))
	hdr.Set(echo.HeaderXContentTypeOptions, "nosniff")
	hdr.Set(echo.HeaderCacheControl, "private, no-store")
	if res.PDF == nil {
		// (Not on PDFs: browsers refuse to show a sandboxed PDF.)
		hdr.Set(echo.HeaderContentSecurityPolicy, printCSP)
	}
	if res.Warning != "" {
		hdr.Set(HeaderPrintWarning, res.Warning)
	}
	if c.Request().Method == http.MethodHead {
		c.Response().WriteHeader(http.StatusOK)
		return nil
	}
	if res.PDF == nil {
		return c.Blob(http.StatusOK, res.ContentType, res.HTML)
	}
	defer res.PDF.Close()
	c.Response().WriteHeader(http.StatusOK)
	_, err := io.Copy(&idleWriter{w: c.Response(), rc: http.NewResponseController(c.Response())}, res.PDF)
	return err
}

// pdfIdleTimeout is how long a client may leave a PDF unread: its
// conversion's turn is held until the PDF has streamed out.
const pdfIdleTimeout = 30 * time.Second

// idleWriter writes with a deadline renewed on every write, so a client
// that stops reading ends its response (and frees its turn) instead of
// holding it forever.
type idleWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *idleWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(pdfIdleTimeout)) // unsupported writers just write
	return d.w.Write(p)
}
