package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/framework-m/framework-m/fmtest/openapitest"
)

const doc = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/things/{id}": {
      "get": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}, "additionalProperties": false}}}},
          "default": {"description": "error", "content": {"application/json": {"schema": {
            "type": "object", "required": ["error"], "properties": {"error": {"type": "object"}}}}}}
        }
      },
      "post": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": false}}}},
        "responses": {"200": {"description": "ok"}, "default": {"description": "an error"}}
      }
    }
  }
}`

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

// server answers GET with body and status, POST with status.
func server(t *testing.T, status int, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTransport(t *testing.T) {
	v, err := openapitest.New([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if errs := v.ValidateDocument(); len(errs) > 0 {
		t.Fatalf("a valid document: %v", errs)
	}
	for _, tc := range []struct {
		name, method, path, reqBody string
		status                      int
		resBody                     string
		want                        string // "" when nothing is wrong
	}{
		{"matching", "GET", "/things/1", "", 200, `{"n": 1}`, ""},
		{"wrong response body", "GET", "/things/1", "", 200, `{"n": "one"}`, "response"},
		{"undeclared property", "GET", "/things/1", "", 200, `{"n": 1, "x": 2}`, "response"},
		{"error shape", "GET", "/things/1", "", 404, `{"error": {}}`, ""},
		{"bad error shape", "GET", "/things/1", "", 500, `{"oops": 1}`, "response"},
		{"unknown route answered 404", "GET", "/nope", "", 404, `{"error": {}}`, ""},
		{"unknown route answered 200", "GET", "/nope", "", 200, `{}`, "no operation"},
		{"bad request refused", "POST", "/things/1", `{"n": "x"}`, 400, ``, ""},
		{"bad request accepted", "POST", "/things/1", `{"n": "x"}`, 200, ``, "request"},
		{"good request", "POST", "/things/1", `{"n": 2}`, 200, ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server(t, tc.status, tc.resBody)
			rec := &recorder{TB: t}
			c := &http.Client{Transport: v.Transport(rec, nil)}
			var body io.Reader
			if tc.reqBody != "" {
				body = strings.NewReader(tc.reqBody)
			}
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(got) != tc.resBody {
				t.Errorf("the caller reads %q, want %q", got, tc.resBody)
			}
			switch {
			case tc.want == "" && len(rec.errs) > 0:
				t.Errorf("reported %v", rec.errs)
			case tc.want != "" && (len(rec.errs) == 0 || !strings.Contains(strings.Join(rec.errs, "\n"), tc.want)):
				t.Errorf("reported %v, want a %q mismatch", rec.errs, tc.want)
			}
		})
	}
}

func TestInvalidDocument(t *testing.T) {
	v, err := openapitest.New([]byte(`{"openapi": "3.1.0", "info": {"title": "t"}, "paths": {"nope": {}}}`))
	if err != nil {
		return // refused at once: fine too
	}
	if len(v.ValidateDocument()) == 0 {
		t.Error("an invalid document (no info.version, a path without /) validates")
	}
}
