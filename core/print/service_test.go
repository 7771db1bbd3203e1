package print

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

func TestFilename(t *testing.T) {
	for _, tc := range []struct{ doctype, name, ct, want string }{
		{"Invoice", "INV-2026-00001", ContentTypePDF, "Invoice-INV-2026-00001.pdf"},
		{"Sales Invoice", "a b", ContentTypeHTML, "Sales_Invoice-a_b.html"},
		{"Note", `x"; filename=evil.exe`, ContentTypePDF, "Note-x___filename_evil.exe.pdf"},
		{"Note", "../../etc/passwd", ContentTypePDF, "Note-_.._etc_passwd.pdf"},
		{"Note", "Ünïcode/☃", ContentTypePDF, "Note-_n_code__.pdf"},
		{"Note", strings.Repeat("x", 500), ContentTypePDF, "Note-" + strings.Repeat("x", 195) + ".pdf"},
	} {
		if got := Filename(tc.doctype, tc.name, tc.ct); got != tc.want {
			t.Errorf("Filename(%q, %q) = %q, want %q", tc.doctype, tc.name, got, tc.want)
		}
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{"customer_name": "Customer Name", "qty": "Qty", "posting-date": "Posting Date", "ünit": "Ünit"} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}

type line struct {
	Item   string          `json:"item"`
	Rate   doctype.Decimal `json:"rate"`
	secret string
	Skip   string `json:"-"`
}

type printed struct {
	When  time.Time          `json:"when"`
	Day   *time.Time         `json:"day"`
	Money doctype.Decimal    `json:"money"`
	Paid  bool               `json:"paid"`
	Qty   int                `json:"qty"`
	Rate  float64            `json:"rate"`
	Text  string             `json:"text"`
	Lines []line             `json:"lines"`
	Ptrs  []*line            `json:"ptrs"`
	Tags  []string           `json:"tags"`
	Extra map[string]any     `json:"extra"`
	Deep  [][]map[string]int `json:"deep"`
}

func TestPrintFieldKinds(t *testing.T) {
	typ := reflect.TypeFor[printed]()
	want := map[string]string{"when": "datetime", "day": "datetime", "money": "number", "paid": "check", "qty": "number",
		"rate": "number", "text": "data", "lines": "table", "ptrs": "table", "tags": "json", "extra": "json", "deep": "json"}
	for i := range typ.NumField() {
		sf := typ.Field(i)
		name, _ := jsonName(sf)
		f := printField(name, sf.Type, 0)
		if f.Kind != want[name] {
			t.Errorf("%s: kind %q, want %q", name, f.Kind, want[name])
		}
		if f.Kind == "table" {
			if len(f.Fields) != 2 || f.Fields[0].Name != "item" || f.Fields[1].Kind != "number" || f.Fields[1].Label != "Rate" {
				t.Errorf("%s: columns %+v, want item and rate (unexported and json:\"-\" left out)", name, f.Fields)
			}
		}
	}
}

// named is an app type whose methods templates must not reach.
type named string

func (n named) Shout() string { return strings.ToUpper(string(n)) }

// TestPlainMap: templates get maps, slices and basic values — no value
// with methods but time.Time — so the sandbox's budget covers everything a
// template can run.
func TestPlainMap(t *testing.T) {
	when := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	m := plainMap(map[string]any{
		"lines": []line{{Item: "a", Rate: doctype.MustDecimal("1.50"), secret: "s", Skip: "k"}},
		"ptrs":  []*line{{Item: "b"}, nil},
		"when":  when,
		"day":   &when,
		"none":  (*time.Time)(nil),
		"tags":  []string{"x"},
		"nil":   []line(nil),
		"money": doctype.MustDecimal("1234.50"),
		"named": named("hi"),
		"byid":  map[int]line{7: {Item: "c"}},
		"bytes": []byte("raw"),
		"fn":    func() {},
		"qty":   int32(3),
	})
	rows, ok := m["lines"].([]any)
	if !ok || len(rows) != 1 {
		t.Fatalf("lines = %#v", m["lines"])
	}
	row := rows[0].(map[string]any)
	if row["item"] != "a" || row["rate"] != json.Number("1.50") || len(row) != 2 {
		t.Errorf("row = %#v: want item and rate by JSON name only, the rate as written", row)
	}
	if p := m["ptrs"].([]any); p[0].(map[string]any)["item"] != "b" || p[1] != nil {
		t.Errorf("ptrs = %#v", p)
	}
	if m["when"] != when || m["day"] != when || m["none"] != nil {
		t.Errorf("times: %#v %#v %#v", m["when"], m["day"], m["none"])
	}
	if !reflect.DeepEqual(m["tags"], []any{"x"}) || m["nil"] != nil {
		t.Errorf("tags %#v nil %#v", m["tags"], m["nil"])
	}
	if m["money"] != json.Number("1234.50") || m["named"] != "hi" || m["bytes"] != "raw" || m["fn"] != nil || m["qty"] != int64(3) {
		t.Errorf("money %#v named %#v bytes %#v fn %#v qty %#v: want plain values", m["money"], m["named"], m["bytes"], m["fn"], m["qty"])
	}
	if c := m["byid"].(map[string]any)["7"].(map[string]any); c["item"] != "c" {
		t.Errorf("byid = %#v", m["byid"])
	}
}

func TestOutputFormat(t *testing.T) {
	for in, want := range map[string]string{"": FormatPDF, "pdf": FormatPDF, "html": FormatHTML} {
		if got, err := outputFormat(in); err != nil || got != want {
			t.Errorf("outputFormat(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"PDF", "docx", " html"} {
		if _, err := outputFormat(in); !errors.Is(err, core.ErrValidation) {
			t.Errorf("outputFormat(%q): %v, want a validation error", in, err)
		}
	}
}

func TestPDFOptions(t *testing.T) {
	s := &Service{opts: Options{DefaultPageSize: "Letter", MarginTop: "1in", MarginLeft: "5mm"}}
	data := ports.PrintData{Doc: map[string]any{"name": "INV-1"}, Meta: ports.PrintMeta{Name: "Invoice"}}
	o := s.pdfOptions(nil, data)
	if o.PageSize != "Letter" || o.MarginTop != "1in" || o.MarginLeft != "5mm" || o.Landscape || o.Title != "Invoice INV-1" {
		t.Errorf("defaults: %+v", o)
	}
	o = s.pdfOptions(&doctypes.PrintFormat{PageSize: "A5", Orientation: "landscape", MarginTop: "2cm", MarginRight: "3mm"}, data)
	if o.PageSize != "A5" || !o.Landscape || o.MarginTop != "2cm" || o.MarginRight != "3mm" || o.MarginLeft != "5mm" {
		t.Errorf("format's: %+v", o)
	}
}

// fakeRenderer renders the template's source as the page.
type fakeRenderer struct{ err error }

func (f fakeRenderer) Check(context.Context, string) error { return f.err }
func (f fakeRenderer) RenderHTML(_ context.Context, _ ports.PrintData, t ports.PrintTemplate) (ports.Rendered, error) {
	if f.err != nil {
		return ports.Rendered{}, f.err
	}
	page := t.Source
	if !t.Paged {
		page = t.HeaderHTML + page
	}
	return ports.Rendered{HTML: []byte(page)}, nil
}
func (f fakeRenderer) RenderHTMLString(context.Context, string, ports.PrintData) (string, error) {
	return "", f.err
}

// fakePDF converts, or fails with err; up answers health checks.
type fakePDF struct {
	err       atomic.Pointer[error]
	down      atomic.Bool
	converts  atomic.Int32
	probes    atomic.Int32
	lastPaged atomic.Bool
}

func (f *fakePDF) HTMLToPDF(_ context.Context, page ports.Rendered, _ ports.PDFOptions) (io.ReadCloser, error) {
	f.converts.Add(1)
	if err := f.err.Load(); err != nil {
		return nil, *err
	}
	return io.NopCloser(strings.NewReader("%PDF " + string(page.HTML))), nil
}

func (f *fakePDF) set(err error) {
	if err == nil {
		f.err.Store(nil)
		return
	}
	f.err.Store(&err)
}

func (f *fakePDF) IsAvailable(context.Context) error {
	f.probes.Add(1)
	if f.down.Load() {
		return errors.New("down")
	}
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRenderFallsBackAndProbes: a converter that is unavailable makes PDF
// requests answer HTML with a warning; for a while after, it is probed
// before use, so while it stays down nobody waits for a conversion; once
// it answers, PDFs come back. A refusal (validation) is not a fallback.
func TestRenderFallsBackAndProbes(t *testing.T) {
	pdf := &fakePDF{}
	s := &Service{renderer: fakeRenderer{}, pdf: pdf, opts: Options{Degraded: time.Hour, Logger: quiet()}}
	s.opts.defaults()
	s.turns = make(chan struct{}, s.opts.MaxConversions)
	dt := &doctype.DocType{Meta: doctype.Meta{Name: "Invoice"}}
	tmpl := ports.PrintTemplate{Source: "<p>body</p>", HeaderHTML: "<b>head</b>"}
	ctx := context.Background()

	res, err := s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
	if err != nil || res.ContentType != ContentTypePDF || res.Warning != "" {
		t.Fatalf("up: %+v, %v", res, err)
	}
	body, _ := io.ReadAll(res.PDF)
	if string(body) != "%PDF <p>body</p>" {
		t.Errorf("the converter gets the paged render (no inline header): %q", body)
	}
	if pdf.probes.Load() != 0 {
		t.Errorf("a healthy converter is not probed")
	}

	pdf.set(core.Unavailable("pdf service", errors.New("connection refused")))
	res, err = s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
	if err != nil || res.ContentType != ContentTypeHTML || !strings.Contains(res.Warning, "unavailable") {
		t.Fatalf("down: %+v, %v", res, err)
	}
	if string(res.HTML) != "<b>head</b><p>body</p>" {
		t.Errorf("the fallback is the HTML page, header inline: %q", res.HTML)
	}

	pdf.down.Store(true)
	before := pdf.converts.Load()
	for range 3 {
		res, err = s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
		if err != nil || res.ContentType != ContentTypeHTML || res.Warning == "" {
			t.Fatalf("degraded: %+v, %v", res, err)
		}
	}
	if pdf.converts.Load() != before || pdf.probes.Load() != 3 {
		t.Errorf("while down: %d conversions, %d probes; want none and 3", pdf.converts.Load()-before, pdf.probes.Load())
	}

	pdf.down.Store(false)
	pdf.set(nil)
	res, err = s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
	if err != nil || res.ContentType != ContentTypePDF {
		t.Fatalf("back: %+v, %v", res, err)
	}
	probes := pdf.probes.Load()
	if _, err := s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true); err != nil || pdf.probes.Load() != probes {
		t.Errorf("after a success the converter is trusted again: %d more probes, %v", pdf.probes.Load()-probes, err)
	}

	pdf.set(core.Invalid("margin_top", "too large"))
	if _, err := s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true); !errors.Is(err, core.ErrValidation) {
		t.Errorf("a refused page is the caller's error, not a fallback: %v", err)
	}

	res, err = s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatHTML, true)
	if err != nil || res.ContentType != ContentTypeHTML || res.Warning != "" {
		t.Errorf("HTML asked: %+v, %v", res, err)
	}

	s.pdf = nil
	res, err = s.render(ctx, dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
	if err != nil || res.ContentType != ContentTypeHTML || !strings.Contains(res.Warning, "not configured") {
		t.Errorf("no converter: %+v, %v", res, err)
	}
}

// TestTemplateFaults: a saved format's fault is reported (Error Log) and a
// 400; a draft's is only a 400; other errors pass unchanged.
func TestTemplateFaults(t *testing.T) {
	dt := &doctype.DocType{Meta: doctype.Meta{Name: "Invoice"}}
	fault := &ports.TemplateError{Template: "Std: template", Line: 3, Reason: "boom"}
	s := &Service{renderer: fakeRenderer{err: fault}, opts: Options{Logger: quiet()}}
	s.opts.defaults()
	s.turns = make(chan struct{}, s.opts.MaxConversions)
	_, err := s.render(context.Background(), dt, ports.PrintData{}, ports.PrintTemplate{}, ports.PDFOptions{}, FormatHTML, true)
	var rep *core.ReportedError
	var ve *core.ValidationError
	if !errors.As(err, &rep) || !errors.As(err, &ve) || !strings.Contains(ve.Message, "line 3: boom") {
		t.Errorf("saved: %v, want a reported validation error naming the line", err)
	}
	_, err = s.render(context.Background(), dt, ports.PrintData{}, ports.PrintTemplate{}, ports.PDFOptions{}, FormatHTML, false)
	if errors.As(err, &rep) || !errors.As(err, &ve) {
		t.Errorf("draft: %v, want a validation error only", err)
	}
	s.renderer = fakeRenderer{err: context.Canceled}
	if _, err = s.render(context.Background(), dt, ports.PrintData{}, ports.PrintTemplate{}, ports.PDFOptions{}, FormatHTML, true); !errors.Is(err, context.Canceled) || errors.As(err, &ve) {
		t.Errorf("other errors pass: %v", err)
	}
}

// blockingPDF converts once release is closed.
type blockingPDF struct {
	fakePDF
	release chan struct{}
}

func (b *blockingPDF) HTMLToPDF(ctx context.Context, page ports.Rendered, o ports.PDFOptions) (io.ReadCloser, error) {
	<-b.release
	return b.fakePDF.HTMLToPDF(ctx, page, o)
}

// TestConversionsAreBounded: past MaxConversions in flight, a PDF request
// waits QueueWait for a turn and is then answered with the HTML; a turn
// lasts until the PDF is closed.
func TestConversionsAreBounded(t *testing.T) {
	pdf := &blockingPDF{release: make(chan struct{})}
	s := &Service{renderer: fakeRenderer{}, pdf: pdf, opts: Options{MaxConversions: 2, QueueWait: 50 * time.Millisecond, Logger: quiet()}}
	s.opts.defaults()
	s.turns = make(chan struct{}, s.opts.MaxConversions)
	dt := &doctype.DocType{Meta: doctype.Meta{Name: "Invoice"}}
	tmpl := ports.PrintTemplate{Source: "<p>x</p>"}
	results := make(chan *Result, 2)
	for range 2 {
		go func() {
			res, err := s.render(context.Background(), dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	for len(s.turns) < 2 {
		time.Sleep(time.Millisecond)
	}
	res, err := s.render(context.Background(), dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
	if err != nil || res.ContentType != ContentTypeHTML || !strings.Contains(res.Warning, "busy") {
		t.Fatalf("third at once: %+v, %v; want the HTML, busy", res, err)
	}
	close(pdf.release)
	for range 2 {
		r := <-results
		if r.ContentType != ContentTypePDF {
			t.Fatalf("%+v", r)
		}
		if len(s.turns) == 0 {
			t.Fatal("the turn was given back before the PDF was closed")
		}
		_ = r.PDF.Close()
		_ = r.PDF.Close() // twice: one turn back only
	}
	if len(s.turns) != 0 {
		t.Fatalf("%d turns still taken", len(s.turns))
	}
	res, err = s.render(context.Background(), dt, ports.PrintData{}, tmpl, ports.PDFOptions{}, FormatPDF, true)
	if err != nil || res.ContentType != ContentTypePDF {
		t.Fatalf("after: %+v, %v", res, err)
	}
	_ = res.PDF.Close()
}
