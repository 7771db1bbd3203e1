package fmtest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/framework-m/framework-m/ports"
)

// Client sends requests to a test app as one principal (or anonymously).
type Client struct {
	tenantHeader string
	csrf         bool
	base         string
	user         *ports.UserContext
	Header       http.Header
	HTTP         *http.Client
}

// As returns a client acting as u (nil: anonymous). When u names a tenant,
// the client sends it in the tenant header (multi-tenant apps).
func (a *App) As(u *ports.UserContext) *Client {
	c := &Client{base: a.URL, user: u, Header: http.Header{}, HTTP: a.httpClient(), tenantHeader: a.Config.Tenancy.TenantHeader}
	if u != nil && u.TenantID != "" {
		c.Tenant(u.TenantID)
	}
	return c
}

// Tenant makes the client name tenant in the tenant header.
func (c *Client) Tenant(tenant string) *Client {
	c.Header.Set(c.tenantHeader, tenant)
	return c
}

// Bearer returns a client sending Authorization: Bearer token.
func (a *App) Bearer(token string) *Client {
	c := a.Anonymous()
	c.Header.Set("Authorization", "Bearer "+token)
	return c
}

// Browser returns an anonymous client with a cookie jar, like a browser: log
// in with ?session=true and it carries the session cookie; call UseCSRF to
// echo the CSRF cookie in X-CSRF-Token as a page's script would.
func (a *App) Browser() *Client {
	jar, _ := cookiejar.New(nil)
	hc := *a.httpClient()
	hc.Jar = jar
	return &Client{base: a.URL, Header: http.Header{}, HTTP: &hc, tenantHeader: a.Config.Tenancy.TenantHeader}
}

// Cookie returns the value of the client's cookie name, or "".
func (c *Client) Cookie(name string) string {
	if c.HTTP.Jar == nil {
		return ""
	}
	u, _ := url.Parse(c.base)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// UseCSRF sends the csrf_token cookie's value in X-CSRF-Token from now on.
func (c *Client) UseCSRF() *Client {
	c.csrf = true
	return c
}

// On returns a copy of c that sends its requests, credentials and cookies
// to another instance, a: what a load balancer does with one client's
// requests.
func (c *Client) On(a *App) *Client {
	o := *c
	o.base = a.URL
	o.Header = c.Header.Clone()
	if c.HTTP.Jar != nil {
		jar, _ := cookiejar.New(nil)
		from, _ := url.Parse(c.base)
		to, _ := url.Parse(a.URL)
		jar.SetCookies(to, c.HTTP.Jar.Cookies(from))
		hc := *a.httpClient()
		hc.Jar = jar
		o.HTTP = &hc
	} else {
		o.HTTP = a.httpClient()
	}
	return &o
}

// Anonymous returns a client that sends no credential.
func (a *App) Anonymous() *Client { return a.As(nil) }

// Response is a completed request.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends method path with body (nil, []byte, string or a value to encode as JSON).
func (c *Client) Do(method, path string, body any) *Response {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			panic("fmtest: encode body: " + err.Error())
		}
		r = bytes.NewReader(data)
	}
	h := http.Header{}
	if r != nil {
		h.Set("Content-Type", "application/json")
	}
	return c.Raw(method, path, r, h)
}

// Raw sends method path with body as it is (nil: none) and the headers in
// h besides the client's own (credentials, tenant, CSRF).
func (c *Client) Raw(method, path string, body io.Reader, h http.Header) *Response {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		panic("fmtest: " + err.Error())
	}
	for k, v := range h {
		req.Header[k] = v
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.csrf {
		req.Header.Set("X-CSRF-Token", c.Cookie("csrf_token"))
	}
	if c.user != nil {
		u, _ := json.Marshal(c.user)
		req.Header.Set(HeaderUser, string(u))
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		panic("fmtest: " + method + " " + path + ": " + err.Error())
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		panic("fmtest: read body: " + err.Error())
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// Upload sends content as the multipart field "file" named fileName to
// path (POST), with fields as form fields before it. The body streams:
// content is never held whole.
func (c *Client) Upload(path, fileName string, content io.Reader, fields map[string]string) *Response {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if err := mw.WriteField(k, fields[k]); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		part, err := mw.CreateFormFile("file", fileName)
		if err == nil {
			_, err = io.Copy(part, content)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return c.Raw(http.MethodPost, path, pr, http.Header{"Content-Type": {mw.FormDataContentType()}})
}

// Get sends GET path.
func (c *Client) Get(path string) *Response { return c.Do(http.MethodGet, path, nil) }

// Post sends POST path with a JSON body.
func (c *Client) Post(path string, body any) *Response { return c.Do(http.MethodPost, path, body) }

// Patch sends PATCH path with a JSON body.
func (c *Client) Patch(path string, body any) *Response { return c.Do(http.MethodPatch, path, body) }

// Delete sends DELETE path.
func (c *Client) Delete(path string) *Response { return c.Do(http.MethodDelete, path, nil) }

// JSON decodes the body into v, failing t on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("fmtest: decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Data returns the "data" object of a document response.
func (r *Response) Data(t testing.TB) map[string]any {
	t.Helper()
	d, ok := r.Map(t)["data"].(map[string]any)
	if !ok {
		t.Fatalf("fmtest: no data object in %s", r.Body)
	}
	return d
}

// List returns the "data" list and "total" of a list response.
func (r *Response) List(t testing.TB) ([]map[string]any, int) {
	t.Helper()
	var body struct {
		Data  []map[string]any `json:"data"`
		Total int              `json:"total"`
	}
	r.JSON(t, &body)
	return body.Data, body.Total
}

// ErrorBody is the JSON error shape.
type ErrorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
		Current map[string]any    `json:"current"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// Err decodes the JSON error shape.
func (r *Response) Err(t testing.TB) ErrorBody {
	t.Helper()
	var e ErrorBody
	r.JSON(t, &e)
	return e
}

// RequireStatus fails t now unless the status is want.
func (r *Response) RequireStatus(t testing.TB, want int) *Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("fmtest: status %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}
