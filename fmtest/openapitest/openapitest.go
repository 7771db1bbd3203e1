// Package openapitest checks HTTP traffic against an app's OpenAPI
// document, so that a test notices when the document and the server
// disagree: a Validator checks each request and response with
// libopenapi-validator, and Transport wraps an http.RoundTripper to check
// every exchange it carries, reporting mismatches with t.Errorf.
//
//	v, err := openapitest.New(doc) // the bytes of GET /api/v1/openapi.json
//	client := &http.Client{Transport: v.Transport(t, http.DefaultTransport)}
//
// fmtest.ValidateOpenAPI does this for every client of a test app.
//
// What counts as a mismatch, so that tests which send bad input on
// purpose pass:
//   - a response whose status, headers or body the document does not
//     describe, always;
//   - a request the document says is invalid (parameters, body), only
//     when the server accepted it (a status below 400): the server then
//     takes input the document refuses;
//   - a route the document lacks, only when the server answered it with a
//     status below 400.
//
// HEAD and OPTIONS requests, WebSocket upgrades and event streams are not
// checked. Security requirements are not checked: tests authenticate in
// ways of their own.
package openapitest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	vcache "github.com/pb33f/libopenapi-validator/cache"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
)

// Validator checks requests and responses against one OpenAPI document.
// It is safe for concurrent use.
type Validator struct {
	mu  sync.Mutex
	doc libopenapi.Document
	v   validator.Validator
}

// cache keeps the validators of the documents seen last: building one
// takes about a second for a large document, and the apps of one test
// package mostly serve the same document.
var cache struct {
	sync.Mutex
	m map[[sha256.Size]byte]*Validator
}

// maxCached bounds the cache.
const maxCached = 16

// New parses doc (OpenAPI 3.1 JSON or YAML) and returns its Validator. The
// same document gives the same Validator.
func New(doc []byte) (*Validator, error) {
	key := sha256.Sum256(doc)
	cache.Lock()
	defer cache.Unlock()
	if v, ok := cache.m[key]; ok {
		return v, nil
	}
	v, err := build(doc)
	if err != nil {
		return nil, err
	}
	if cache.m == nil || len(cache.m) >= maxCached {
		cache.m = map[[sha256.Size]byte]*Validator{}
	}
	cache.m[key] = v
	return v, nil
}

func build(doc []byte) (*Validator, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: parse document: %w", err)
	}
	sc := &lazySchemas{}
	sc.building.Store(true)
	v, errs := validator.NewValidator(d, config.WithoutSecurityValidation(), config.WithSchemaCache(sc))
	sc.building.Store(false)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapitest: build validator: %w", errors.Join(errs...))
	}
	return &Validator{doc: d, v: v}, nil
}

// lazySchemas is the validator's cache of compiled schemas, filled as
// exchanges need them rather than all at once. The validator compiles
// every schema of the document when it is built unless its cache says it
// has the schema already: while it is built, this cache says so of every
// schema (holding nothing), and afterwards it misses until an exchange
// compiles one. A test's exchanges touch a few dozen of the document's
// hundreds of schemas; compiling them all was most of a short test's time.
type lazySchemas struct {
	building atomic.Bool
	m        sync.Map
}

func (c *lazySchemas) Load(key uint64) (*vcache.SchemaCacheEntry, bool) {
	if c.building.Load() {
		return nil, true // "compiled already": nothing is compiled up front
	}
	v, ok := c.m.Load(key)
	if !ok {
		return nil, false
	}
	return v.(*vcache.SchemaCacheEntry), true
}

func (c *lazySchemas) Store(key uint64, value *vcache.SchemaCacheEntry) {
	if value != nil {
		c.m.Store(key, value)
	}
}

func (c *lazySchemas) Range(f func(key uint64, value *vcache.SchemaCacheEntry) bool) {
	c.m.Range(func(k, v any) bool { return f(k.(uint64), v.(*vcache.SchemaCacheEntry)) })
}

// ValidateDocument checks the document against the OpenAPI specification's
// own schema and returns what is wrong (nil: valid).
func (v *Validator) ValidateDocument() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ok, errs := v.v.ValidateDocument()
	if ok {
		return nil
	}
	return describe(errs)
}

// Check returns what is wrong with one exchange: req with its body
// reqBody, and res with its body resBody (the bodies are read already;
// req.Body and res.Body are not used). It applies the rules of the package
// documentation.
func (v *Validator) Check(req *http.Request, reqBody []byte, res *http.Response, resBody []byte) []string {
	if skipped(req, res) {
		return nil
	}
	accepted := res.StatusCode < 400
	rq := req.Clone(req.Context())
	rq.Body = io.NopCloser(bytes.NewReader(reqBody))
	rq.ContentLength = int64(len(reqBody))
	rs := *res
	rs.Body = io.NopCloser(bytes.NewReader(resBody))

	v.mu.Lock()
	defer v.mu.Unlock()
	_, reqErrs := v.v.ValidateHttpRequestSync(rq)
	var out []string
	for _, e := range reqErrs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			if accepted {
				return []string{"the document has no operation " + req.Method + " " + req.URL.Path + ", yet the server answered " + res.Status}
			}
			return nil // no such route, and the server says so
		}
		if accepted && e.ValidationType != helpers.SecurityValidation {
			out = append(out, "request: "+describeOne(e))
		}
	}
	rq.Body = io.NopCloser(bytes.NewReader(reqBody))
	_, resErrs := v.v.ValidateHttpResponse(rq, &rs)
	for _, e := range resErrs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			continue // reported above
		}
		out = append(out, "response: "+describeOne(e))
	}
	return out
}

// skipped reports the exchanges the package does not check.
func skipped(req *http.Request, res *http.Response) bool {
	switch req.Method {
	case http.MethodHead, http.MethodOptions:
		return true
	}
	if res.StatusCode == http.StatusSwitchingProtocols || strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		return true
	}
	return strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
}

func describe(errs []*verrors.ValidationError) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, describeOne(e))
	}
	return out
}

func describeOne(e *verrors.ValidationError) string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Reason != "" && e.Reason != e.Message {
		b.WriteString(": " + e.Reason)
	}
	for _, f := range e.SchemaValidationErrors {
		b.WriteString("; " + f.Reason)
		if f.FieldPath != "" {
			b.WriteString(" at " + f.FieldPath)
		}
	}
	return b.String()
}

// Transport returns a RoundTripper that sends each request through next
// (nil: http.DefaultTransport) and reports what Check finds with t.Errorf.
// It reads request and response bodies whole to check them (not those of
// skipped exchanges, which stream as they are).
func (v *Validator) Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{v: v, t: t, next: next}
}

type transport struct {
	v    *Validator
	t    testing.TB
	next http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody && req.Method != http.MethodHead && req.Method != http.MethodOptions {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read request body: %w", err)
		}
		reqBody = b
		sent := req.Clone(req.Context())
		sent.Body = io.NopCloser(bytes.NewReader(b))
		sent.ContentLength = int64(len(b))
		sent.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req = sent
	}
	res, err := tr.next.RoundTrip(req)
	if err != nil || skipped(req, res) {
		return res, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if err != nil {
		return res, nil // the caller reads what came; nothing to check
	}
	for _, m := range tr.v.Check(req, reqBody, res, resBody) {
		tr.t.Errorf("openapi: %s %s → %d: %s", req.Method, req.URL.RequestURI(), res.StatusCode, m)
	}
	return res, nil
}
