// Package print prints documents: it loads a document the principal may
// read, picks its print format (the one named, else the DocType's default,
// else a layout generated from the DocType's Meta), renders it to HTML with
// a ports.TemplateRenderer and, for PDF, converts it with a
// ports.PDFConverter — a separate service, never this process. When the
// converter is down or slow, a PDF request is answered with the HTML and a
// warning instead of an error.
//
// It also checks print formats when they are saved through the resource
// API: a template that does not parse is refused naming its line, and one
// DocType has at most one enabled default format per tenant.
package print

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Output formats of a print.
const (
	FormatPDF  = "pdf"
	FormatHTML = "html"
)

// Options are [print]'s defaults of the page.
type Options struct {
	// DefaultPageSize is the page of formats that name none (default A4).
	DefaultPageSize string
	// Margins of formats that name none ("" : the converter's).
	MarginTop, MarginBottom, MarginLeft, MarginRight string
	// ProbeTimeout bounds the health check made before a conversion while
	// the converter is known to have failed lately (default 1 s).
	ProbeTimeout time.Duration
	// Degraded is how long after a failed conversion the converter is
	// probed before each use (default 10 s): while it is down, PDF requests
	// fall back to HTML within ProbeTimeout instead of each waiting for the
	// conversion's timeout.
	Degraded time.Duration
	// MaxConversions bounds the conversions this instance has in flight
	// (default 8); a PDF request that waits QueueWait for a turn is
	// answered with the HTML: a flood of prints never piles up behind a
	// slow converter, each holding its page in memory.
	MaxConversions int
	// QueueWait is how long a PDF request waits for a turn (0: none).
	QueueWait time.Duration
	// Logger receives fallbacks.
	Logger *slog.Logger
	// Meter receives fm_pdf_conversions_total{result},
	// fm_pdf_fallbacks_total{reason} and fm_pdf_conversion_duration_seconds
	// (nil: none).
	Meter ports.Meter
}

func (o *Options) defaults() {
	if o.DefaultPageSize == "" {
		o.DefaultPageSize = ports.PageA4
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = time.Second
	}
	if o.Degraded <= 0 {
		o.Degraded = 10 * time.Second
	}
	if o.MaxConversions <= 0 {
		o.MaxConversions = 8
	}
	if o.QueueWait < 0 {
		o.QueueWait = 0
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Service prints documents.
type Service struct {
	res      *resource.Service
	repo     ports.Repository
	settings SettingsSource
	renderer ports.TemplateRenderer
	pdf      ports.PDFConverter // nil: PDF requests answer HTML
	opts     Options

	metas sync.Map // DocType name → ports.PrintMeta

	mu       sync.Mutex
	failedAt time.Time // the converter's last failure

	turns chan struct{} // a token per conversion in flight

	metrics *metrics
}

// SettingsSource gives the tenant's System Settings document (core/settings).
type SettingsSource interface {
	Current(ctx context.Context) (any, error)
}

// SettingsFunc is a SettingsSource made of a function.
type SettingsFunc func(ctx context.Context) (any, error)

// Current calls f.
func (f SettingsFunc) Current(ctx context.Context) (any, error) { return f(ctx) }

// New returns the print service and installs its checks of Print Format
// writes on res. pdf may be nil: PDF requests then answer HTML with a
// warning.
func New(res *resource.Service, repo ports.Repository, settings SettingsSource, renderer ports.TemplateRenderer, pdf ports.PDFConverter, opts Options) *Service {
	opts.defaults()
	s := &Service{res: res, repo: repo, settings: settings, renderer: renderer, pdf: pdf, opts: opts,
		turns: make(chan struct{}, opts.MaxConversions), metrics: newMetrics(opts.Meter)}
	res.Guard(doctypes.PrintFormatDocType, s.guard)
	return s
}

// Request asks for one print.
type Request struct {
	DocType, Name string
	// Format is FormatPDF or FormatHTML ("" : PDF).
	Format string
	// PrintFormat names the format to use ("" : the default, else generated).
	PrintFormat string
	// HeadOnly answers what a print would be (its type, filename and
	// warning) after the same checks, without rendering or converting: a
	// HEAD request.
	HeadOnly bool
}

// Result is a print: HTML, or a PDF to stream.
type Result struct {
	// ContentType is text/html; charset=utf-8 or application/pdf.
	ContentType string
	// Filename is <doctype>-<name>.<ext>, safe for Content-Disposition.
	Filename string
	// HTML is the page when ContentType is HTML.
	HTML []byte
	// PDF streams the document when ContentType is PDF; the caller closes it.
	PDF io.ReadCloser
	// Warning says why a PDF request was answered with HTML.
	Warning string
}

// Content types of results.
const (
	ContentTypeHTML = "text/html; charset=utf-8"
	ContentTypePDF  = "application/pdf"
)

// Print prints req.DocType/req.Name for the principal in ctx: 404 when the
// document is not readable, 404 for a print format that does not exist,
// is disabled or belongs to another DocType.
func (s *Service) Print(ctx context.Context, req Request) (*Result, error) {
	format, err := outputFormat(req.Format)
	if err != nil {
		return nil, err
	}
	doc, dt, err := s.load(ctx, req.DocType, req.Name)
	if err != nil {
		return nil, err
	}
	pf, err := s.pick(ctx, dt.Name, req.PrintFormat)
	if err != nil {
		return nil, err
	}
	if req.HeadOnly {
		res := &Result{ContentType: ContentTypeHTML}
		switch {
		case format == FormatHTML:
		case s.pdf == nil:
			res.Warning = warnNotConfigured
		case s.degraded():
			res.Warning = warnUnavailable
		default:
			res.ContentType = ContentTypePDF
		}
		res.Filename = Filename(dt.Name, req.Name, res.ContentType)
		return res, nil
	}
	data, err := s.data(ctx, dt, doc, pf)
	if err != nil {
		return nil, err
	}
	t := ports.PrintTemplate{}
	if pf != nil {
		t = ports.PrintTemplate{Name: pf.Name, Source: pf.Template, CSS: pf.CSS, HeaderHTML: pf.HeaderHTML, FooterHTML: pf.FooterHTML}
	}
	res, err := s.render(ctx, dt, data, t, s.pdfOptions(pf, data), format, true)
	if err != nil {
		return nil, err
	}
	res.Filename = Filename(dt.Name, req.Name, res.ContentType)
	return res, nil
}

// Preview is an unsaved format's print of a document, for format authors.
type Preview struct {
	DocType, Name string
	// Format is FormatHTML ("") or FormatPDF.
	Format string
	// Draft is the format being written (its DocType is DocType's).
	Draft doctypes.PrintFormat
}

// Preview renders p.Draft against a document: it needs write permission on
// Print Format and read permission on the document. Template faults are
// the author's: 400s naming the line, kept out of the Error Log.
func (s *Service) Preview(ctx context.Context, p Preview) (*Result, error) {
	format := p.Format
	if format == "" {
		format = FormatHTML
	}
	format, err := outputFormat(format)
	if err != nil {
		return nil, err
	}
	pfdt, err := s.res.DocType(doctypes.PrintFormatDocType)
	if err != nil {
		return nil, err
	}
	ok, err := s.res.Can(ctx, pfdt, ports.ActionWrite, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, core.Publicf(core.ErrForbidden, "previewing a print format needs write permission on %s", pfdt.Name)
	}
	draft := p.Draft
	draft.DocType = p.DocType
	if err := draft.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkTemplates(ctx, &draft); err != nil {
		return nil, err
	}
	doc, dt, err := s.load(ctx, p.DocType, p.Name)
	if err != nil {
		return nil, err
	}
	data, err := s.data(ctx, dt, doc, &draft)
	if err != nil {
		return nil, err
	}
	t := ports.PrintTemplate{Source: draft.Template, CSS: draft.CSS, HeaderHTML: draft.HeaderHTML, FooterHTML: draft.FooterHTML}
	res, err := s.render(ctx, dt, data, t, s.pdfOptions(&draft, data), format, false)
	if err != nil {
		return nil, err
	}
	res.Filename = Filename(dt.Name, p.Name, res.ContentType)
	return res, nil
}

func outputFormat(f string) (string, error) {
	switch f {
	case "", FormatPDF:
		return FormatPDF, nil
	case FormatHTML:
		return FormatHTML, nil
	}
	return "", core.Invalid("format", "must be pdf or html")
}

// load reads the document through the resource service (read permission;
// 404 otherwise).
func (s *Service) load(ctx context.Context, doctypeName, name string) (any, *doctype.DocType, error) {
	dt, err := s.res.DocType(doctypeName)
	if err != nil {
		return nil, nil, err
	}
	doc, err := s.res.Get(ctx, dt.Name, name)
	if err != nil {
		return nil, nil, err
	}
	return doc, dt, nil
}

// pick returns the named format, else the DocType's enabled default, else
// nil (the generated layout).
func (s *Service) pick(ctx context.Context, doctypeName, name string) (*doctypes.PrintFormat, error) {
	if name != "" {
		notFound := core.Publicf(core.ErrNotFound, "%s %q not found for %s", doctypes.PrintFormatDocType, name, doctypeName)
		if doctype.CheckName(name) != nil {
			return nil, notFound
		}
		doc, err := s.repo.Get(ctx, doctypes.PrintFormatDocType, name)
		if errors.Is(err, core.ErrNotFound) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		pf, ok := doc.(*doctypes.PrintFormat)
		if !ok || pf.DocType != doctypeName || pf.Disabled {
			return nil, notFound
		}
		return pf, nil
	}
	res, err := s.repo.List(ctx, doctypes.PrintFormatDocType, ports.Query{
		Filters: []ports.Filter{
			{Field: "doctype", Op: ports.OpEq, Value: doctypeName},
			{Field: "is_default", Op: ports.OpEq, Value: true},
			{Field: "disabled", Op: ports.OpEq, Value: false},
		},
		Orders:    []ports.Order{{Field: doctype.FieldModifiedAt, Desc: true}},
		Limit:     1,
		SkipCount: true,
	})
	if err != nil {
		return nil, err
	}
	if len(res.Items) == 0 {
		return nil, nil
	}
	pf, _ := res.Items[0].(*doctypes.PrintFormat)
	return pf, nil
}

// data is the template's context.
func (s *Service) data(ctx context.Context, dt *doctype.DocType, doc any, pf *doctypes.PrintFormat) (ports.PrintData, error) {
	d := ports.PrintData{Doc: plainMap(dt.ToMap(doc, nil)), Meta: s.meta(dt), Format: map[string]any{}, Settings: map[string]any{}}
	if pf != nil {
		if pfdt, err := s.res.DocType(doctypes.PrintFormatDocType); err == nil {
			d.Format = plainMap(pfdt.ToMap(pf, nil))
		}
	}
	if s.settings != nil {
		st, err := s.settings.Current(ctx)
		if err != nil {
			return d, err
		}
		if sdt, ok := s.res.Registry().Of(st); ok {
			d.Settings = plainMap(sdt.ToMap(st, nil))
		}
	}
	if u := ports.UserFrom(ctx); u != nil {
		d.User = map[string]any{"name": u.ID, "email": u.Email, "full_name": u.DisplayName}
	}
	return d, nil
}

// render renders t and, for PDF, converts it; saved marks a saved format
// (its faults also go to the Error Log).
func (s *Service) render(ctx context.Context, dt *doctype.DocType, data ports.PrintData, t ports.PrintTemplate, opts ports.PDFOptions, format string, saved bool) (*Result, error) {
	fault := func(err error) error {
		var te *ports.TemplateError
		if !errors.As(err, &te) {
			return err
		}
		pub := &core.ValidationError{Message: te.Error(), Fields: []core.FieldError{{Field: "template", Reason: te.Error()}}}
		if saved {
			return core.Report(fmt.Errorf("print %s: %w", dt.Name, pub))
		}
		return pub
	}
	if format == FormatPDF && s.pdf != nil {
		warn := s.probe(ctx)
		if warn == "" {
			warn = s.turn(ctx)
		}
		if warn == "" {
			t.Paged = true
			page, err := s.renderer.RenderHTML(ctx, data, t)
			if err != nil {
				s.done()
				return nil, fault(err)
			}
			start := time.Now()
			pdf, err := s.pdf.HTMLToPDF(ctx, page, opts)
			s.metrics.converted(time.Since(start), err)
			if err == nil {
				s.succeeded()
				return &Result{ContentType: ContentTypePDF, PDF: &turnBody{ReadCloser: pdf, done: s.done}}, nil
			}
			s.done()
			if !errors.Is(err, core.ErrUnavailable) || ctx.Err() != nil {
				return nil, err
			}
			s.failed()
			s.opts.Logger.WarnContext(ctx, "PDF service unavailable: answering HTML", "doctype", dt.Name, "err", err)
			t.Paged = false
			res, rerr := s.renderHTML(ctx, data, t, fault)
			if rerr != nil {
				return nil, rerr
			}
			res.Warning = warnUnavailable
			s.metrics.fellBack(failureOf(err))
			return res, nil
		} else {
			res, err := s.renderHTML(ctx, data, t, fault)
			if err != nil {
				return nil, err
			}
			res.Warning = warn
			s.metrics.fellBack(fallbackOf(warn))
			return res, nil
		}
	}
	res, err := s.renderHTML(ctx, data, t, fault)
	if err != nil {
		return nil, err
	}
	if format == FormatPDF {
		res.Warning = warnNotConfigured
		s.metrics.fellBack(fallbackNotConfigured)
	}
	return res, nil
}

func (s *Service) renderHTML(ctx context.Context, data ports.PrintData, t ports.PrintTemplate, fault func(error) error) (*Result, error) {
	page, err := s.renderer.RenderHTML(ctx, data, t)
	if err != nil {
		return nil, fault(err)
	}
	return &Result{ContentType: ContentTypeHTML, HTML: page.HTML}, nil
}

// probe checks the converter before use while it is degraded (it failed
// lately): "" to go on, else the warning of the HTML fallback.
func (s *Service) probe(ctx context.Context) string {
	if !s.degraded() {
		return ""
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProbeTimeout)
	defer cancel()
	if err := s.pdf.IsAvailable(pctx); err != nil {
		s.failed()
		return warnUnavailable
	}
	return ""
}

// turn waits up to QueueWait for a conversion's turn: "" when it has one
// (release it with done), else the warning of the HTML fallback.
func (s *Service) turn(ctx context.Context) string {
	select {
	case s.turns <- struct{}{}:
		return ""
	default:
	}
	t := time.NewTimer(s.opts.QueueWait)
	defer t.Stop()
	select {
	case s.turns <- struct{}{}:
		return ""
	case <-t.C:
		return warnBusy
	case <-ctx.Done():
		return warnBusy
	}
}

func (s *Service) done() { <-s.turns }

// turnBody gives the conversion's turn back when the PDF is closed: a
// turn lasts until the PDF has streamed to the client.
type turnBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *turnBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// Warnings of a PDF request answered with HTML.
const (
	warnBusy          = "PDF service busy; answered with HTML"
	warnUnavailable   = "PDF service unavailable; answered with HTML"
	warnNotConfigured = "PDF conversion is not configured; answered with HTML"
)

// degraded reports whether the converter failed lately.
func (s *Service) degraded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.failedAt.IsZero() && time.Since(s.failedAt) < s.opts.Degraded
}

func (s *Service) failed() {
	s.mu.Lock()
	s.failedAt = time.Now()
	s.mu.Unlock()
}

func (s *Service) succeeded() {
	s.mu.Lock()
	s.failedAt = time.Time{}
	s.mu.Unlock()
}

// pdfOptions lays out the pages of pf (or the defaults).
func (s *Service) pdfOptions(pf *doctypes.PrintFormat, data ports.PrintData) ports.PDFOptions {
	o := ports.PDFOptions{PageSize: s.opts.DefaultPageSize, MarginTop: s.opts.MarginTop, MarginBottom: s.opts.MarginBottom,
		MarginLeft: s.opts.MarginLeft, MarginRight: s.opts.MarginRight}
	name, _ := data.Doc["name"].(string)
	o.Title = strings.TrimSpace(data.Meta.Name + " " + name)
	if pf == nil {
		return o
	}
	if pf.PageSize != "" {
		o.PageSize = pf.PageSize
	}
	o.Landscape = pf.Orientation == doctypes.OrientationLandscape
	for _, m := range []struct {
		dst *string
		v   string
	}{{&o.MarginTop, pf.MarginTop}, {&o.MarginBottom, pf.MarginBottom}, {&o.MarginLeft, pf.MarginLeft}, {&o.MarginRight, pf.MarginRight}} {
		if m.v != "" {
			*m.dst = m.v
		}
	}
	return o
}

// guard checks a Print Format before it is saved: its DocType exists, its
// templates parse, and it is not a second enabled default.
func (s *Service) guard(ctx context.Context, action ports.Action, before, after any) error {
	pf, ok := after.(*doctypes.PrintFormat)
	if !ok || action == ports.ActionDelete {
		return nil
	}
	if _, err := s.res.DocType(pf.DocType); err != nil {
		return core.Invalidf("doctype", "no DocType is named %q", pf.DocType)
	}
	// Templates are checked when they change: a format whose file went
	// missing can still be disabled.
	prev, _ := before.(*doctypes.PrintFormat)
	if prev == nil || prev.Template != pf.Template || prev.HeaderHTML != pf.HeaderHTML || prev.FooterHTML != pf.FooterHTML {
		if err := s.checkTemplates(ctx, pf); err != nil {
			return err
		}
	}
	if pf.DefaultFor == nil {
		return nil
	}
	cur, err := s.pick(ctx, pf.DocType, "")
	if err != nil {
		return err
	}
	if cur != nil && cur.Name != pf.Name {
		return core.Publicf(core.ErrConflict, "%s %q is already the default for %s: unset it first", doctypes.PrintFormatDocType, cur.Name, pf.DocType)
	}
	return nil
}

// checkTemplates parses each template of pf: a *core.ValidationError naming
// the field, the line and the reason.
func (s *Service) checkTemplates(ctx context.Context, pf *doctypes.PrintFormat) error {
	verr := &core.ValidationError{}
	for _, f := range []struct{ field, src string }{
		{"template", pf.Template}, {"header_html", pf.HeaderHTML}, {"footer_html", pf.FooterHTML},
	} {
		if f.src == "" {
			continue
		}
		if strings.HasPrefix(f.src, "file:") && f.field != "template" {
			verr.Add(f.field, "must be template text (only template may name a file)")
			continue
		}
		err := s.renderer.Check(ctx, f.src)
		var te *ports.TemplateError
		switch {
		case errors.As(err, &te):
			reason := te.Reason
			if te.Line > 0 {
				reason = fmt.Sprintf("line %d: %s", te.Line, te.Reason)
			}
			verr.Add(f.field, reason)
		case err != nil:
			return err
		}
	}
	if err := verr.Err(); err != nil {
		if len(verr.Fields) == 1 {
			verr.Message = verr.Fields[0].Field + ": " + verr.Fields[0].Reason
		}
		return err
	}
	return nil
}

// meta describes dt's fields to templates and the generated layout
// (computed once per DocType).
func (s *Service) meta(dt *doctype.DocType) ports.PrintMeta {
	if m, ok := s.metas.Load(dt.Name); ok {
		return m.(ports.PrintMeta)
	}
	m := ports.PrintMeta{Name: dt.Name}
	for _, f := range dt.Fields() {
		if f.Hidden || f.System {
			continue
		}
		m.Fields = append(m.Fields, printField(f.Name, f.Type, 0))
	}
	s.metas.Store(dt.Name, m)
	return m
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[doctype.Decimal]()
)

// printField describes one field by its Go type.
func printField(name string, t reflect.Type, depth int) ports.PrintField {
	f := ports.PrintField{Name: name, Label: Label(name), Kind: "data"}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		f.Kind = "datetime"
	case t == decimalType:
		f.Kind = "number"
	case t.Kind() == reflect.Bool:
		f.Kind = "check"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		f.Kind = "number"
	case t.Kind() == reflect.String:
		f.Kind = "data"
	case t.Kind() == reflect.Slice && elemStruct(t) != nil && depth == 0:
		f.Kind = "table"
		et := elemStruct(t)
		for i := range et.NumField() {
			sf := et.Field(i)
			n, ok := jsonName(sf)
			if !ok || sf.Anonymous {
				continue
			}
			f.Fields = append(f.Fields, printField(n, sf.Type, depth+1))
		}
	default:
		f.Kind = "json"
	}
	return f
}

// elemStruct is the struct type of a slice's elements, or nil.
func elemStruct(t reflect.Type) reflect.Type {
	e := t.Elem()
	for e.Kind() == reflect.Pointer {
		e = e.Elem()
	}
	if e.Kind() == reflect.Struct && e != timeType && e != decimalType {
		return e
	}
	return nil
}

// jsonName is a struct field's JSON name; false when JSON leaves it out.
func jsonName(sf reflect.StructField) (string, bool) {
	if !sf.IsExported() {
		return "", false
	}
	tag := sf.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = sf.Name
	}
	return name, true
}

// Label turns a field name into a label: "customer_name" → "Customer Name".
func Label(name string) string {
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == ' ' })
	for i, w := range words {
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// plainMap turns a document's values into what templates read: maps keyed
// by JSON name for structs (child rows included), []any, map[string]any and
// the basic types — values without methods, except time.Time's, so that a
// template cannot reach computation the sandbox does not count (a
// decimal's *big.Rat, an app type's methods). Decimals become json.Number,
// which prints as written and which the filters read exactly.
func plainMap(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = plain(reflect.ValueOf(v), 0)
	}
	return m
}

// maxPlainDepth bounds the levels plain follows; deeper values are left out.
const maxPlainDepth = 8

func plain(v reflect.Value, depth int) any {
	if !v.IsValid() || depth > maxPlainDepth {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem(), depth+1) // +1: a pointer cycle ends
	case reflect.Struct:
		switch v.Type() {
		case timeType:
			return v.Interface()
		case decimalType:
			return json.Number(v.Interface().(doctype.Decimal).String())
		}
		out := make(map[string]any, v.NumField())
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if n, ok := jsonName(sf); ok && !sf.Anonymous {
				out[n] = plain(v.Field(i), depth+1)
			}
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return string(v.Bytes())
		}
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = plain(v.Index(i), depth+1)
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			switch k := it.Key(); {
			case k.Kind() == reflect.String:
				out[k.String()] = plain(it.Value(), depth+1)
			case k.CanInt():
				out[strconv.FormatInt(k.Int(), 10)] = plain(it.Value(), depth+1)
			case k.CanUint():
				out[strconv.FormatUint(k.Uint(), 10)] = plain(it.Value(), depth+1)
			}
		}
		return out
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return nil // functions, channels, complex numbers
}

// Filename is "<doctype>-<name>.pdf" (or .html) with every character
// outside letters, digits, '.', '_' and '-' made '_'.
func Filename(doctypeName, name, contentType string) string {
	ext := ".pdf"
	if contentType == ContentTypeHTML {
		ext = ".html"
	}
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-') {
				return r
			}
			return '_'
		}, s)
	}
	base := clean(doctypeName) + "-" + strings.TrimLeft(clean(name), ".")
	if len(base) > 200 {
		base = base[:200]
	}
	return base + ext
}
