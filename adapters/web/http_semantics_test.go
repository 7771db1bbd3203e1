package web_test

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
)

func TestLimitZeroIsRefused(t *testing.T) {
	app := newApp(t)
	c := app.As(fmtest.Admin())
	for _, q := range []string{"limit=0", "limit_page_length=0", "limit=00"} {
		res := c.Get("/api/v1/resource/Note?"+q).RequireStatus(t, http.StatusBadRequest)
		e := res.Err(t)
		assert.Equal(t, "validation_error", e.Error.Code, q)
		assert.Contains(t, e.Error.Fields["limit"], "between 1 and 1000", q)
	}
	for q, want := range map[string]float64{"": 20, "limit=1": 1, "limit_page_length=7": 7} {
		m := c.Get("/api/v1/resource/Note?"+q).RequireStatus(t, http.StatusOK).Map(t)
		assert.Equal(t, want, m["limit"], q)
	}
}

// Ticket has a nullable field, for "is null" filters.
type Ticket struct {
	doctype.Base
	Assignee *string `json:"assignee"`
}

var ticketMeta = doctype.Meta{Name: "Ticket"}

// TestIsNullFilterForms checks every form of "is null" / "is not null" that
// README documents, in the list and the object form.
func TestIsNullFilterForms(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			app := fmtest.New(t, driver, frameworkm.WithDocType[Ticket](ticketMeta))
			c := app.As(fmtest.Admin())
			unset := c.Post("/api/v1/resource/Ticket", map[string]any{}).RequireStatus(t, http.StatusCreated).Data(t)["name"]
			set := c.Post("/api/v1/resource/Ticket", map[string]any{"assignee": "ann"}).RequireStatus(t, http.StatusCreated).Data(t)["name"]
			for _, tc := range []struct {
				filters string
				want    any
			}{
				{`[["assignee","is null"]]`, unset},
				{`[["assignee","is null",null]]`, unset},
				{`[["assignee","IS  NULL"]]`, unset},
				{`[["assignee","is_null"]]`, unset},
				{`[["assignee","is","not set"]]`, unset},
				{`[["Ticket","assignee","is","not set"]]`, unset},
				{`{"assignee":["is null"]}`, unset},
				{`{"assignee":["is null",null]}`, unset},
				{`{"assignee":["is","not set"]}`, unset},
				{`[["assignee","is not null"]]`, set},
				{`[["assignee","is not null",null]]`, set},
				{`[["assignee","is","set"]]`, set},
				{`[["Ticket","assignee","is","set"]]`, set},
				{`{"assignee":["is not null"]}`, set},
				{`{"assignee":["is","set"]}`, set},
			} {
				res := c.Get("/api/v1/resource/Ticket?filters=" + url.QueryEscape(tc.filters))
				if !assert.Equal(t, http.StatusOK, res.Status, "%s: %s", tc.filters, res.Body) {
					continue
				}
				items, total := res.List(t)
				if assert.Equal(t, 1, total, tc.filters) && assert.Len(t, items, 1, tc.filters) {
					assert.Equal(t, tc.want, items[0]["name"], tc.filters)
				}
			}
			for _, bad := range []string{
				`[["assignee","="]]`,
				`[["assignee","is"]]`,
				`[["assignee","is","unset"]]`,
				`[["assignee"]]`,
				`{"assignee":["="]}`,
				`{"assignee":["is"]}`,
			} {
				res := c.Get("/api/v1/resource/Ticket?filters=" + url.QueryEscape(bad))
				if assert.Equal(t, http.StatusBadRequest, res.Status, "%s: %s", bad, res.Body) {
					fields := res.Err(t).Error.Fields
					assert.True(t, fields["filters"] != "" || fields["filters.assignee"] != "", "%s: %v", bad, fields)
				}
			}
		})
	}
}

func TestIfNoneMatchOnResourceGet(t *testing.T) {
	app := newApp(t)
	admin := app.As(fmtest.Admin())
	name := admin.Post("/api/v1/resource/Note", map[string]any{"title": "a"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	path := "/api/v1/resource/Note/" + url.PathEscape(name)
	get := func(inm, query string) *fmtest.Response {
		c := app.As(fmtest.Admin())
		if inm != "" {
			c.Header.Set("If-None-Match", inm)
		}
		return c.Get(path + query)
	}
	require.Equal(t, `"1"`, get("", "").RequireStatus(t, http.StatusOK).Header.Get("ETag"))
	for _, inm := range []string{`"1"`, `W/"1"`, `"7", "1"`, `*`} {
		res := get(inm, "")
		assert.Equal(t, http.StatusNotModified, res.Status, inm)
		assert.Equal(t, `"1"`, res.Header.Get("ETag"), inm)
		assert.Empty(t, res.Body, inm)
	}
	assert.Equal(t, http.StatusNotModified, get(`"1"`, "?fields=title").Status, "a projection has the document's ETag")
	assert.Equal(t, http.StatusOK, get(`"2"`, "").Status)

	admin.Patch(path, map[string]any{"title": "b"}).RequireStatus(t, http.StatusOK)
	res := get(`"1"`, "").RequireStatus(t, http.StatusOK)
	assert.Equal(t, `"2"`, res.Header.Get("ETag"))
	assert.Equal(t, "b", res.Data(t)["title"])
	assert.Equal(t, http.StatusNotModified, get(`"2"`, "").Status)

	// Who may not read the document learns nothing from a matching tag.
	other := app.As(fmtest.User("w", "Nobody"))
	other.Header.Set("If-None-Match", `"2"`)
	other.Get(path).RequireStatus(t, http.StatusNotFound)
}

func TestIfMatchAnyOnPatch(t *testing.T) {
	app := newApp(t)
	admin := app.As(fmtest.Admin())
	name := admin.Post("/api/v1/resource/Note", map[string]any{"title": "a"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	path := "/api/v1/resource/Note/" + url.PathEscape(name)
	admin.Patch(path, map[string]any{"title": "b"}).RequireStatus(t, http.StatusOK)

	star := app.As(fmtest.Admin())
	star.Header.Set("If-Match", "*")
	res := star.Patch(path, map[string]any{"title": "c"}).RequireStatus(t, http.StatusOK)
	assert.Equal(t, "c", res.Data(t)["title"])
	assert.Equal(t, `"3"`, res.Header.Get("ETag"))
	star.Patch("/api/v1/resource/Note/missing", map[string]any{"title": "x"}).RequireStatus(t, http.StatusNotFound)

	stale := app.As(fmtest.Admin())
	stale.Header.Set("If-Match", `"1"`)
	stale.Patch(path, map[string]any{"title": "d"}).RequireStatus(t, http.StatusConflict)
}

// headRoutes adds a route with a HEAD of its own, which HEAD must reach, and
// one without GET, which HEAD must not reach.
func headRoutes(api *echo.Group) {
	api.POST("/test/post-only", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	api.GET("/test/own-head", func(c echo.Context) error { return c.String(http.StatusOK, "get") })
	api.HEAD("/test/own-head", func(c echo.Context) error {
		c.Response().Header().Set("X-Own-Head", "yes")
		return c.NoContent(http.StatusNoContent)
	})
}

// sameHeaders compares two responses' headers, but for those that differ
// between any two requests (the rate limit counts each request).
func sameHeaders(t *testing.T, want, got http.Header, msg string) {
	t.Helper()
	strip := func(h http.Header) http.Header {
		h = h.Clone()
		for _, k := range []string{"Date", echo.HeaderXRequestID, "X-Ratelimit-Remaining", "X-Ratelimit-Reset"} {
			h.Del(k)
		}
		return h
	}
	assert.Equal(t, strip(want), strip(got), msg)
}

func TestHeadAnsweredWhereGetIs(t *testing.T) {
	app := newApp(t, frameworkm.WithRoutes(headRoutes))
	admin := app.As(fmtest.Admin())
	name := admin.Post("/api/v1/resource/Note", map[string]any{"title": "a"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	for _, tc := range []struct {
		path   string
		as     *fmtest.Client
		status int
	}{
		{"/healthz", app.Anonymous(), http.StatusOK},
		{"/readyz", app.Anonymous(), http.StatusOK},
		{"/.well-known/jwks.json", app.Anonymous(), http.StatusNotFound}, // HS256: no public keys
		{"/api/v1/settings", app.Anonymous(), http.StatusOK},
		{"/api/v1/auth/me", admin, http.StatusOK},
		{"/api/v1/auth/me", app.Anonymous(), http.StatusUnauthorized},
		{"/api/v1/resource/Note", admin, http.StatusOK},
		{"/api/v1/resource/Note?limit=0", admin, http.StatusBadRequest},
		{"/api/v1/resource/Note/" + url.PathEscape(name), admin, http.StatusOK},
		{"/api/v1/resource/Note/missing", admin, http.StatusNotFound},
		{"/api/v1/resource/Nope", admin, http.StatusNotFound},
		{"/api/v1/nope", admin, http.StatusNotFound},
		{"/api/v1/test/post-only", admin, http.StatusMethodNotAllowed},
		{"/api/docs", admin, http.StatusOK},
		{"/api/docs", app.Anonymous(), http.StatusUnauthorized},
		{"/api/docs/init.js", admin, http.StatusOK},
	} {
		get := tc.as.Get(tc.path)
		head := tc.as.Do(http.MethodHead, tc.path, nil)
		require.Equal(t, tc.status, get.Status, "GET %s: %s", tc.path, get.Body)
		assert.Equal(t, get.Status, head.Status, "HEAD %s", tc.path)
		assert.Empty(t, head.Body, "HEAD %s", tc.path)
		sameHeaders(t, get.Header, head.Header, "HEAD "+tc.path)
		assert.NotEmpty(t, head.Header.Get(echo.HeaderXRequestID), "HEAD %s", tc.path)
	}

	// A route's own HEAD handler wins.
	head := admin.Do(http.MethodHead, "/api/v1/test/own-head", nil).RequireStatus(t, http.StatusNoContent)
	assert.Equal(t, "yes", head.Header.Get("X-Own-Head"))

	// 405s list HEAD where they list GET.
	allow := func(h http.Header) []string {
		var out []string
		for _, m := range strings.Split(h.Get(echo.HeaderAllow), ",") {
			out = append(out, strings.TrimSpace(m))
		}
		sort.Strings(out)
		return out
	}
	for path, want := range map[string][]string{
		"/api/v1/resource/Note":   {"GET", "HEAD", "POST"},
		"/api/v1/resource/Note/x": {"DELETE", "GET", "HEAD", "PATCH"},
		"/api/v1/settings":        {"GET", "HEAD", "PATCH"},
		"/healthz":                {"GET", "HEAD", "OPTIONS"},
		"/readyz":                 {"GET", "HEAD", "OPTIONS"},
		"/api/v1/test/post-only":  {"POST"},
	} {
		res := admin.Do(http.MethodPut, path, nil).RequireStatus(t, http.StatusMethodNotAllowed)
		assert.Equal(t, want, allow(res.Header), "PUT %s", path)
	}
	res := admin.Do(http.MethodHead, "/api/v1/test/post-only", nil).RequireStatus(t, http.StatusMethodNotAllowed)
	assert.Equal(t, []string{"POST"}, allow(res.Header))
}
