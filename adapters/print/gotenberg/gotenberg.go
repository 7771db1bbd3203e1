// Package gotenberg is the Gotenberg adapter of ports.PDFConverter: it turns
// rendered HTML into PDF in a Gotenberg v8 service (its Chromium route,
// POST /forms/chromium/convert/html), never in the app process.
//
// A conversion sends the page, and its header and footer when it has them,
// as one multipart form built in memory (the HTML is already in memory and
// bounded), and streams the PDF back: the caller reads the body it gets and
// closes it. Config.Timeout bounds the whole conversion, retries and the
// reading of the PDF included.
//
// The service being down, overloaded (503, 429, connection refused: retried
// with a short backoff while the timeout allows), failing (other 5xx) or slow
// is a core.Unavailable error, on which callers fall back to HTML; the
// service refusing the page (400) is a core.ErrValidation error carrying its
// message. The caller cancelling its context returns that context's error.
// Credentials in Config.URL (a Gotenberg behind basic auth) are sent as an
// Authorization header and never appear in errors.
package gotenberg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

const (
	// DefaultTimeout bounds one conversion by default.
	DefaultTimeout = 30 * time.Second
	// DefaultRetries is the number of extra attempts by default.
	DefaultRetries = 2
	// MaxRetries is the largest Config.Retries.
	MaxRetries = 10
	// NoRetries as Config.Retries makes one attempt only.
	NoRetries = -1
	// DefaultPageSize is the page size of conversions that name none.
	DefaultPageSize = ports.PageA4
	// DefaultMargin is every margin by default.
	DefaultMargin = "10mm"

	// convertPath is Gotenberg's route converting an HTML page.
	convertPath = "/forms/chromium/convert/html"
	// healthPath is Gotenberg's health check.
	healthPath = "/health"

	// maxMessage bounds the part of Gotenberg's error messages kept.
	maxMessage = 500
	// firstBackoff is the wait before the first retry; it doubles after
	// each, up to maxBackoff.
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
	// healthTimeout bounds one health check.
	healthTimeout = 5 * time.Second
	dialTimeout   = 5 * time.Second
)

// what names the dependency in core.Unavailable errors.
const what = "pdf service"

// margin is a CSS length with a unit Gotenberg understands.
var margin = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(mm|cm|in|pt|px)$`)

// Config is the Gotenberg converter's configuration.
type Config struct {
	// URL is the service's base URL, "http(s)://host[:port][/path]"
	// (required). A user and password in it are sent as basic auth.
	URL string
	// Timeout bounds one whole conversion, retries and the reading of the
	// PDF included (0: DefaultTimeout).
	Timeout time.Duration
	// Retries is the number of extra attempts when the service answers
	// 503 or 429 or refuses the connection, as long as Timeout allows
	// (0: DefaultRetries; NoRetries: none; at most MaxRetries).
	Retries int
	// DefaultPageSize is the page size (a key of ports.PageSizes) of
	// conversions that name none ("": DefaultPageSize).
	DefaultPageSize string
	// MarginTop, MarginBottom, MarginLeft and MarginRight are the margins
	// of conversions that set none: CSS lengths with a unit ("10mm",
	// "0.5in"; mm, cm, in, pt or px). "": DefaultMargin.
	MarginTop, MarginBottom, MarginLeft, MarginRight string
	// Client makes the requests (nil: a client of the converter's own,
	// with bounded dialing and TLS handshakes).
	Client *http.Client
	// TracerProvider, when set, makes each request to the service a
	// client span of the request that asked for the PDF, and sends the
	// trace context along (nil: no spans).
	TracerProvider trace.TracerProvider
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	switch c.Retries {
	case 0:
		c.Retries = DefaultRetries
	case NoRetries:
		c.Retries = 0
	}
	if c.DefaultPageSize == "" {
		c.DefaultPageSize = DefaultPageSize
	}
	for _, m := range []*string{&c.MarginTop, &c.MarginBottom, &c.MarginLeft, &c.MarginRight} {
		if *m == "" {
			*m = DefaultMargin
		}
	}
	return c
}

// Validate checks the configuration and returns a *core.ValidationError
// naming every bad field (url, timeout_ms, retries, default_page_size,
// margin_top …). Unset fields are valid: they take their defaults. It never
// quotes the URL, which may hold a password.
func (c Config) Validate() error {
	v := &core.ValidationError{}
	if _, _, err := parseURL(c.URL); err != nil {
		v.Add("url", err.Error())
	}
	if c.Timeout < 0 {
		v.Add("timeout_ms", "must not be negative")
	}
	if (c.Retries < 0 && c.Retries != NoRetries) || c.Retries > MaxRetries {
		v.Add("retries", fmt.Sprintf("must be between 0 and %d", MaxRetries))
	}
	if c.DefaultPageSize != "" {
		if _, ok := pageSize(c.DefaultPageSize); !ok {
			v.Add("default_page_size", "must be one of "+pageSizeNames())
		}
	}
	checkMargins(v, "margin_", c.MarginTop, c.MarginBottom, c.MarginLeft, c.MarginRight)
	return v.Err()
}

// checkMargins records every set margin that is not a CSS length with a
// unit, naming it prefix+top, bottom, left or right.
func checkMargins(v *core.ValidationError, prefix string, top, bottom, left, right string) {
	for _, m := range []struct{ name, value string }{
		{"top", top}, {"bottom", bottom}, {"left", left}, {"right", right},
	} {
		if m.value != "" && !margin.MatchString(m.value) {
			v.Add(prefix+m.name, "must be a length with a unit: mm, cm, in, pt or px (such as \"10mm\" or \"0.5in\")")
		}
	}
}

// parseURL checks a base URL and returns it without user information, and
// that information.
func parseURL(raw string) (*url.URL, *url.Userinfo, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil, errors.New("is required")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, nil, errors.New("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, nil, errors.New("must be an http or https URL")
	case u.Hostname() == "":
		return nil, nil, errors.New("has no host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, nil, errors.New("must not have a query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, nil, errors.New("has an invalid port")
		}
	}
	user := u.User
	base := *u
	base.User = nil
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = ""
	return &base, user, nil
}

// pageSize looks a page size up in ports.PageSizes, exactly or else ignoring
// case.
func pageSize(name string) ([2]float64, bool) {
	if s, ok := ports.PageSizes[name]; ok {
		return s, true
	}
	for k, s := range ports.PageSizes {
		if strings.EqualFold(k, name) {
			return s, true
		}
	}
	return [2]float64{}, false
}

// pageSizeNames lists the page sizes for error messages.
func pageSizeNames() string {
	return strings.Join([]string{ports.PageA4, ports.PageA3, ports.PageA5, ports.PageLetter, ports.PageLegal}, ", ")
}

// Converter is the Gotenberg implementation of ports.PDFConverter.
type Converter struct {
	client  *http.Client
	owned   bool // client is the converter's own: Close drops its connections
	convert string
	health  string
	user    *url.Userinfo
	cfg     Config
}

// New returns a converter on the service of cfg, after applying the defaults
// and checking it. It makes no request: the service may be down at start
// (see IsAvailable).
func New(cfg Config) (*Converter, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gotenberg: %w", err)
	}
	base, user, _ := parseURL(cfg.URL)
	c := &Converter{
		client:  cfg.Client,
		convert: base.String() + convertPath,
		health:  base.String() + healthPath,
		user:    user,
		cfg:     cfg,
	}
	if c.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
		tr.TLSHandshakeTimeout = dialTimeout
		tr.MaxIdleConnsPerHost = 16
		c.client = &http.Client{Transport: tr}
		c.owned = true
	}
	if cfg.TracerProvider != nil {
		c.client = traced(c.client, cfg.TracerProvider)
	}
	return c, nil
}

// Close drops the idle connections of the converter's own client (not of a
// Config.Client).
func (c *Converter) Close() error {
	if c.owned {
		c.client.CloseIdleConnections()
	}
	return nil
}

// form is a conversion's request body and its content type.
type form struct {
	body        []byte
	contentType string
}

// buildForm lays the conversion's form out, or returns a core.ErrValidation
// error for a bad page size or margin.
func (c *Converter) buildForm(page ports.Rendered, opts ports.PDFOptions) (form, error) {
	v := &core.ValidationError{}
	name := opts.PageSize
	if name == "" {
		name = c.cfg.DefaultPageSize
	}
	size, ok := pageSize(name)
	if !ok {
		v.Add("page_size", "must be one of "+pageSizeNames())
	}
	checkMargins(v, "margin_", opts.MarginTop, opts.MarginBottom, opts.MarginLeft, opts.MarginRight)
	if err := v.Err(); err != nil {
		return form{}, err
	}
	or := func(s, def string) string {
		if s != "" {
			return s
		}
		return def
	}
	mm := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) + "mm" }

	var buf bytes.Buffer
	buf.Grow(len(page.HTML) + len(page.Header) + len(page.Footer) + 2048)
	w := multipart.NewWriter(&buf)
	file := func(name string, data []byte) {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", `form-data; name="files"; filename="`+name+`"`)
		h.Set("Content-Type", "text/html; charset=utf-8")
		p, _ := w.CreatePart(h) // writes to a bytes.Buffer: no error
		_, _ = p.Write(data)
	}
	field := func(k, v string) { _ = w.WriteField(k, v) }

	file("index.html", page.HTML)
	if len(page.Header) > 0 {
		file("header.html", page.Header)
	}
	if len(page.Footer) > 0 {
		file("footer.html", page.Footer)
	}
	field("paperWidth", mm(size[0]))
	field("paperHeight", mm(size[1]))
	if opts.Landscape {
		field("landscape", "true")
	}
	field("marginTop", or(opts.MarginTop, c.cfg.MarginTop))
	field("marginBottom", or(opts.MarginBottom, c.cfg.MarginBottom))
	field("marginLeft", or(opts.MarginLeft, c.cfg.MarginLeft))
	field("marginRight", or(opts.MarginRight, c.cfg.MarginRight))
	field("printBackground", "true")
	if opts.Title != "" {
		meta, _ := json.Marshal(map[string]string{"Title": opts.Title})
		field("metadata", string(meta))
	}
	if err := w.Close(); err != nil {
		return form{}, fmt.Errorf("gotenberg: form: %w", err)
	}
	return form{body: buf.Bytes(), contentType: w.FormDataContentType()}, nil
}

// HTMLToPDF converts page, with its header and footer on every page, laid
// out by opts (empty fields take the configuration's defaults), and streams
// the PDF back: the caller reads the body and closes it, which also ends the
// conversion's timeout. Errors: a core.ErrValidation error for an unknown
// page size, a bad margin or a page the service refuses (400, with its
// message); a core.Unavailable error when the service cannot be reached, is
// overloaded after the retries, fails or does not answer within
// Config.Timeout; ctx's error, wrapped, when ctx ends first.
func (c *Converter) HTMLToPDF(ctx context.Context, page ports.Rendered, opts ports.PDFOptions) (io.ReadCloser, error) {
	f, err := c.buildForm(page, opts)
	if err != nil {
		return nil, fmt.Errorf("gotenberg: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	body, err := c.post(ctx, cctx, f)
	if err != nil {
		cancel()
		return nil, err
	}
	return &pdfBody{body: body, ctx: ctx, cancel: cancel}, nil
}

// post sends f until the service answers a PDF, a final error, or the
// retries or cctx (ctx bounded by the timeout) run out.
func (c *Converter) post(ctx, cctx context.Context, f form) (io.ReadCloser, error) {
	backoff := firstBackoff
	for attempt := 0; ; attempt++ {
		res, err := c.do(cctx, f)
		var retry error // why this attempt may be retried
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("gotenberg: html to pdf: %w", ctx.Err())
			}
			if cctx.Err() != nil {
				return nil, c.timedOut(err)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return nil, core.Unavailable(what, fmt.Errorf("gotenberg: %w", err))
			}
			retry = err
		case res.StatusCode == http.StatusOK:
			mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
			if mt != "application/pdf" {
				drain(res.Body)
				return nil, core.Unavailable(what, fmt.Errorf("gotenberg: answered %q instead of a PDF", mt))
			}
			return res.Body, nil
		case res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusTooManyRequests:
			retry = fmt.Errorf("gotenberg: status %d: %s", res.StatusCode, message(res.Body))
			wait = retryAfter(res.Header.Get("Retry-After"))
		case res.StatusCode == http.StatusBadRequest:
			return nil, core.Publicf(core.ErrValidation, "the pdf service refused the page: %s", message(res.Body))
		case res.StatusCode == http.StatusRequestEntityTooLarge:
			drain(res.Body)
			return nil, core.Public(core.ErrValidation, "the page is too large for the pdf service")
		default:
			// Other 5xx: the service failed; other 4xx: it is not the
			// Gotenberg route we expect (a wrong URL, path or password).
			return nil, core.Unavailable(what, fmt.Errorf("gotenberg: status %d: %s", res.StatusCode, message(res.Body)))
		}

		if attempt >= c.cfg.Retries {
			return nil, core.Unavailable(what, fmt.Errorf("after %d attempts: %w", attempt+1, retry))
		}
		wait = max(wait, backoff)
		backoff = min(2*backoff, maxBackoff)
		if dl, ok := cctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, core.Unavailable(what, fmt.Errorf("no time left to retry within %s: %w", c.cfg.Timeout, retry))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-cctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("gotenberg: html to pdf: %w", ctx.Err())
			}
			return nil, c.timedOut(retry)
		}
	}
}

// do makes one attempt.
func (c *Converter) do(ctx context.Context, f form) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.convert, bytes.NewReader(f.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", f.contentType)
	// A conversion has no side effect: let the transport resend it on a
	// kept-alive connection the server closed meanwhile. A nil value marks
	// the request so without sending the header.
	req.Header["X-Idempotency-Key"] = nil
	c.auth(req)
	return c.client.Do(req)
}

// auth adds the URL's credentials to req.
func (c *Converter) auth(req *http.Request) {
	if c.user != nil {
		pw, _ := c.user.Password()
		req.SetBasicAuth(c.user.Username(), pw)
	}
}

// timedOut is the error of a conversion that ran out of Config.Timeout.
func (c *Converter) timedOut(err error) error {
	return core.Unavailable(what, fmt.Errorf("gotenberg: no answer within %s: %w", c.cfg.Timeout, err))
}

// IsAvailable answers nil when the service answers its health check
// (GET /health) with 200, else a core.Unavailable error (ctx's error when
// ctx ends first). One check takes at most a few seconds.
func (c *Converter) IsAvailable(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, min(healthTimeout, c.cfg.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodGet, c.health, nil)
	if err != nil {
		return core.Unavailable(what, fmt.Errorf("gotenberg: health: %w", err))
	}
	c.auth(req)
	res, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("gotenberg: health: %w", ctx.Err())
		}
		return core.Unavailable(what, fmt.Errorf("gotenberg: health: %w", err))
	}
	if res.StatusCode != http.StatusOK {
		return core.Unavailable(what, fmt.Errorf("gotenberg: health: status %d: %s", res.StatusCode, message(res.Body)))
	}
	drain(res.Body)
	return nil
}

// Readiness reports the service in /readyz as "pdf". It is not required:
// while it is down prints fall back to HTML.
func (c *Converter) Readiness() ports.Dependency {
	return ports.Dependency{Name: "pdf", Check: c.IsAvailable}
}

// pdfBody is the PDF being streamed: closing it ends the conversion's
// context, and a failed read says whether the service or the caller broke
// it off.
type pdfBody struct {
	body   io.ReadCloser
	ctx    context.Context // the caller's
	cancel context.CancelFunc
}

// Read reads the PDF. Its errors other than io.EOF are ctx's error when the
// caller's context ended, else core.Unavailable errors.
func (b *pdfBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF {
		if b.ctx.Err() != nil {
			return n, fmt.Errorf("gotenberg: reading the pdf: %w", b.ctx.Err())
		}
		return n, core.Unavailable(what, fmt.Errorf("gotenberg: reading the pdf: %w", err))
	}
	return n, err
}

// Close closes the response and ends the conversion's context.
func (b *pdfBody) Close() error {
	err := b.body.Close()
	b.cancel()
	return err
}

// message reads the start of an error answer, at most maxMessage bytes cut
// on a character boundary, and closes it.
func message(body io.ReadCloser) string {
	b, _ := io.ReadAll(io.LimitReader(body, maxMessage))
	drain(body)
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), ""))
	if s == "" {
		return "no message"
	}
	return s
}

// drain reads what is left of a small answer, so its connection can be
// kept, and closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	_ = body.Close()
}

// retryAfter parses a Retry-After header in seconds (0 when absent or a
// date).
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// Interface guards.
var (
	_ ports.PDFConverter = (*Converter)(nil)
	_ ports.Readiness    = (*Converter)(nil)
	_ io.Closer          = (*Converter)(nil)
)
