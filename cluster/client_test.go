package cluster_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Clients of the instances. No request may hang a test: a frozen instance's
// request gets the long one.
var (
	http10s  = &http.Client{Timeout: 10 * time.Second}
	httpLong = &http.Client{Timeout: 90 * time.Second}
)

// The resource routes of the test DocTypes.
const (
	ticketPath     = "/api/v1/resource/ticket"
	fastTicketPath = "/api/v1/resource/fast-ticket"
)

// response is a completed request, or the transport error that ended it.
type response struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error
}

// do sends method path with a JSON body (nil: none) and headers h.
func (n *node) do(c *http.Client, method, path string, body any, h http.Header) response {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, n.url+path, r)
	if err != nil {
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	began := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return response{err: err, took: time.Since(began)}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data, err: err, took: time.Since(began)}
}

func (n *node) get(path string, h http.Header) response { return n.do(http10s, "GET", path, nil, h) }

func (n *node) post(path string, body any, h http.Header) response {
	return n.do(http10s, "POST", path, body, h)
}

// String describes the response for failure messages.
func (r response) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return strconv.Itoa(r.status) + " " + string(r.body) + " (" + r.took.String() + ")"
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "decode %s", r.body)
}

// name returns data.name of a document response.
func (r response) name(t testing.TB) string {
	t.Helper()
	var b struct {
		Data struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	r.json(t, &b)
	require.NotEmpty(t, b.Data.Name, "no name in %s", r.body)
	return b.Data.Name
}

// assertUnavailable checks r is a 503 with a positive Retry-After and the
// error shape's "unavailable" code.
func assertUnavailable(t testing.TB, r response, what string) bool {
	t.Helper()
	if !assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s: %s", what, r) {
		return false
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	ok := assert.NoError(t, err, "%s: Retry-After %q", what, r.header.Get("Retry-After"))
	ok = assert.Positive(t, retry, "%s: Retry-After", what) && ok
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return assert.Equal(t, "unavailable", e.Error.Code, "%s: %s", what, r.body) && ok
}

// readiness returns /readyz's status and checks.
func (n *node) readiness() (int, map[string]string) {
	r := n.get("/readyz", nil)
	var b struct {
		Checks map[string]string `json:"checks"`
	}
	_ = json.Unmarshal(r.body, &b)
	return r.status, b.Checks
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func apiKey(key string) http.Header { return http.Header{"X-Api-Key": {key}} }

func sessionCookie(id string) http.Header { return http.Header{"Cookie": {"session_id=" + id}} }

func loginBody(email, pass string) map[string]any {
	return map[string]any{"username": email, "password": pass}
}

// login logs the admin in and returns the access token.
func (n *node) login(t testing.TB) string {
	t.Helper()
	r := n.post("/api/v1/auth/login", loginBody(adminEmail, adminPass), nil)
	require.Equal(t, http.StatusOK, r.status, "login on %s: %s", n.name, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.json(t, &tok)
	require.NotEmpty(t, tok.AccessToken)
	return tok.AccessToken
}

// sessionLogin logs the admin in with a browser session and returns the
// session cookie's value.
func (n *node) sessionLogin(t testing.TB) string {
	t.Helper()
	r := n.post("/api/v1/auth/login?session=true", loginBody(adminEmail, adminPass), nil)
	require.Equal(t, http.StatusOK, r.status, "session login on %s: %s", n.name, r)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "session_id" && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("no session_id cookie in %v", r.header)
	return ""
}

// newAPIKey creates an API key of the admin's and returns it.
func (n *node) newAPIKey(t testing.TB, token string) string {
	t.Helper()
	r := n.post("/api/v1/auth/api-keys", map[string]any{"name": "cluster", "current_password": adminPass}, bearer(token))
	require.Equal(t, http.StatusCreated, r.status, "create API key: %s", r)
	var b struct {
		Data struct {
			Key string `json:"key"`
		} `json:"data"`
	}
	r.json(t, &b)
	require.NotEmpty(t, b.Data.Key)
	return b.Data.Key
}
