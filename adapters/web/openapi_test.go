package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/openapitest"
	"github.com/framework-m/framework-m/ports"
)

// Gadget is a DocType added by the OpenAPI tests: its fields must appear in
// the document, its hidden ones nowhere.
type Gadget struct {
	doctype.Base
	Label    string          `json:"label" gorm:"size:80" openapi:"required"`
	Price    doctype.Decimal `json:"price"`
	Stage    string          `json:"stage" openapi:"enum=Draft|Live"`
	Code     string          `json:"zz_hidden_gadget_code"`
	Internal string          `json:"-"`
}

var gadgetMeta = doctype.Meta{Name: "Gadget Part", Naming: "prompt", Hidden: []string{"zz_hidden_gadget_code"},
	Permissions: []doctype.Rule{{Role: "Gadgeteer", Actions: doctype.All}}}

// fullConfig turns on every optional part the web adapter serves routes
// for: magic links beside passwords, an OAuth provider, every strategy.
func fullConfig(t *testing.T) config.Config {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.Strategies = []string{"session_cookie", "bearer", "api_key", "basic"}
	cfg.Auth.MagicLink.Enabled = true
	cfg.Auth.MagicLink.BaseURL = "https://app.example.com"
	o := &cfg.Auth.OAuth
	o.Enabled = true
	o.BaseURL = "https://app.example.com"
	o.Providers = []string{"gh"}
	o.Provider = map[string]config.OAuthProvider{"gh": {ClientID: "id", ClientSecret: "s3cret",
		AuthorizationURL: "https://idp.example.com/authorize", TokenURL: "https://idp.example.com/token",
		UserinfoURL: "https://idp.example.com/user", EmailsURL: "https://idp.example.com/user/emails"}}
	return cfg
}

func fullApp(t *testing.T) *fmtest.App {
	t.Helper()
	return fmtest.NewWithConfig(t, fullConfig(t),
		frameworkm.WithDocType[Note](noteMeta), frameworkm.WithDocType[Gadget](gadgetMeta),
		frameworkm.WithRoutes(testRoutes))
}

// document fetches the OpenAPI document as c.
func document(t *testing.T, c *fmtest.Client) (raw []byte, doc map[string]any) {
	t.Helper()
	res := c.Get(web.OpenAPIPath).RequireStatus(t, http.StatusOK)
	require.NoError(t, json.Unmarshal(res.Body, &doc))
	return res.Body, doc
}

func pathsOf(doc map[string]any) map[string]any {
	p, _ := doc["paths"].(map[string]any)
	return p
}

func schemasOf(doc map[string]any) map[string]any {
	c, _ := doc["components"].(map[string]any)
	s, _ := c["schemas"].(map[string]any)
	return s
}

// TestOpenAPIRouteCoverage walks every route Echo has after Mount, with
// every optional service on, and fails for each one the document lacks.
func TestOpenAPIRouteCoverage(t *testing.T) {
	app := fullApp(t)
	e, ok := app.Handler().(*echo.Echo)
	require.True(t, ok, "the app's handler is its Echo")
	_, doc := document(t, app.As(fmtest.Admin()))
	paths := pathsOf(doc)

	var methods []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		methods = append(methods, r.Method+" "+r.Path)
		item, ok := paths[web.OpenAPIPathOf(r.Path)].(map[string]any)
		if !assert.True(t, ok, "route %s %s: no path %s in the document", r.Method, r.Path, web.OpenAPIPathOf(r.Path)) {
			continue
		}
		op, ok := item[strings.ToLower(r.Method)].(map[string]any)
		if assert.True(t, ok, "route %s %s: no %s operation in the document", r.Method, r.Path, r.Method) {
			assert.NotEmpty(t, op["summary"], "route %s %s has no summary", r.Method, r.Path)
			assert.NotEmpty(t, op["responses"], "route %s %s has no responses", r.Method, r.Path)
		}
	}
	// The optional services are on: their routes were walked.
	for _, want := range []string{
		"POST /api/v1/auth/login", "POST /api/v1/auth/magic-link", "GET /api/v1/auth/oauth/:provider/start",
		"POST /api/v1/file/upload", "GET /api/v1/notifications/stream", "GET /api/v1/activity",
		"GET /api/v1/print/:doctype/:name", "POST /api/v1/email-queue", "PUT /api/v1/email/drafts/:id",
		"GET /api/v1/settings", "GET /api/v1/roles", "GET /api/v1/users", "GET /api/v1/auth/api-keys",
		"GET /api/v1/auth/sessions", "GET /api/v1/auth/me/preferences", "GET /.well-known/jwks.json",
		"GET /healthz", "GET /api/v1/openapi.json", "GET /api/v1/test/whoami",
	} {
		assert.Contains(t, methods, want, "the full app serves %s", want)
	}
	// An app route without a description is still there, as a generic operation.
	op := paths["/api/v1/test/whoami"].(map[string]any)["get"].(map[string]any)
	assert.Equal(t, []any{"App"}, op["tags"])
	// The generic resource routes expand to one path set per DocType.
	for _, p := range []string{"/api/v1/resource/{doctype}", "/api/v1/resource/{doctype}/{name}",
		"/api/v1/resource/Note", "/api/v1/resource/Note/{name}", "/api/v1/resource/Gadget Part/{name}"} {
		assert.Contains(t, keysOf(paths), p)
	}
}

// TestOpenAPIDocumentValidates checks the document against the OpenAPI
// 3.1 specification with libopenapi-validator.
func TestOpenAPIDocumentValidates(t *testing.T) {
	app := fullApp(t)
	raw, doc := document(t, app.As(fmtest.Admin()))
	assert.Equal(t, "3.1.0", doc["openapi"])
	v, err := openapitest.New(raw)
	require.NoError(t, err)
	assert.Empty(t, v.ValidateDocument(), "the document is valid OpenAPI 3.1")

	// Security schemes: the configured ones only.
	sec := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	assert.ElementsMatch(t, []string{"bearerAuth", "sessionCookie", "csrfToken", "apiKey", "basicAuth"}, keysOf(sec))
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.Strategies = []string{"bearer"}
	_, doc = document(t, fmtest.NewWithConfig(t, cfg).As(fmtest.Admin()))
	sec = doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	assert.Equal(t, []string{"bearerAuth"}, keysOf(sec))
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIDocTypeAppears: a DocType added in the test has its four
// schemas and fields; a hidden field appears nowhere in the document.
func TestOpenAPIDocTypeAppears(t *testing.T) {
	app := fullApp(t)
	raw, doc := document(t, app.As(fmtest.Admin()))
	schemas := schemasOf(doc)
	for _, name := range []string{"GadgetPart", "GadgetPartCreate", "GadgetPartPatch", "GadgetPartList"} {
		require.Contains(t, schemas, name)
	}
	read := schemas["GadgetPart"].(map[string]any)["properties"].(map[string]any)
	for _, f := range []string{"name", "label", "price", "stage", "version", "owner"} {
		assert.Contains(t, read, f)
	}
	price := read["price"].(map[string]any)
	assert.Equal(t, "string", price["type"], "decimals are strings")
	assert.NotEmpty(t, price["pattern"])
	assert.Equal(t, []any{"Draft", "Live"}, read["stage"].(map[string]any)["enum"])
	create := schemas["GadgetPartCreate"].(map[string]any)
	assert.ElementsMatch(t, []any{"name", "label"}, create["required"], "naming prompt needs name; label is tagged required")
	assert.NotContains(t, create["properties"], "version", "read-only fields are no input")

	for _, hidden := range []string{"zz_hidden_gadget_code", `"internal"`} {
		assert.NotContains(t, string(raw), hidden, "a hidden field appears nowhere")
	}
	// Built-in hidden fields too: password hashes, API key hashes.
	assert.NotContains(t, string(raw), "password_hash")
}

// openAPIServer serves app's services with the OpenAPI options o.
func openAPIServer(t *testing.T, app *fmtest.App, o web.OpenAPIOptions) *fmtest.App {
	t.Helper()
	e := web.New(web.Deps{
		Config: app.Config, Logger: app.Logger, Registry: app.Registry, Resources: app.Resources,
		Auth: app.Auth, Errors: app.Errors, AuthService: app.AuthService, Tenants: app.Tenants,
		OpenAPI: o,
	}).Echo()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &fmtest.App{App: app.App, URL: srv.URL, Server: srv}
}

// TestOpenAPIExposure: authenticated (default) answers 401 to anonymous
// callers and shows each caller the DocTypes they may read; public shows
// everything to anyone; off answers 404.
func TestOpenAPIExposure(t *testing.T) {
	app := fullApp(t)
	app.Anonymous().Get(web.OpenAPIPath).RequireStatus(t, http.StatusUnauthorized)

	_, writer := document(t, app.As(fmtest.User("w", "Writer")))
	assert.Contains(t, schemasOf(writer), "Note", "a Writer reads Notes")
	assert.NotContains(t, schemasOf(writer), "GadgetPart", "but not Gadget Parts")
	assert.NotContains(t, pathsOf(writer), "/api/v1/resource/Gadget Part")
	assert.Contains(t, pathsOf(writer), "/api/v1/resource/{doctype}", "the generic routes are always there")
	_, gadgeteer := document(t, app.As(fmtest.User("g", "Gadgeteer")))
	assert.Contains(t, schemasOf(gadgeteer), "GadgetPart")
	assert.NotContains(t, schemasOf(gadgeteer), "Note")
	// Asked again, the same (cached) answer.
	_, again := document(t, app.As(fmtest.User("w2", "Writer")))
	assert.Equal(t, keysOf(schemasOf(writer)), keysOf(schemasOf(again)))

	pub := openAPIServer(t, app, web.OpenAPIOptions{Expose: web.OpenAPIPublic, Title: "Gadgets", Version: "2.0.0", Servers: []string{"https://api.example.com"}})
	_, all := document(t, pub.Anonymous())
	assert.Contains(t, schemasOf(all), "GadgetPart")
	assert.Contains(t, schemasOf(all), "Note")
	assert.Equal(t, "Gadgets", all["info"].(map[string]any)["title"])
	assert.Equal(t, "https://api.example.com", all["servers"].([]any)[0].(map[string]any)["url"])
	op := pathsOf(all)["/api/v1/openapi.json"].(map[string]any)["get"].(map[string]any)
	assert.Equal(t, []any{}, op["security"], "public: no credential needed")

	off := openAPIServer(t, app, web.OpenAPIOptions{Expose: web.OpenAPIOff})
	off.As(fmtest.Admin()).Get(web.OpenAPIPath).RequireStatus(t, http.StatusNotFound)
}

// TestOpenAPIWithoutServing: the document of a Server, without serving it
// (what App.OpenAPI and `server openapi` write), has every DocType.
func TestOpenAPIWithoutServing(t *testing.T) {
	app := fullApp(t)
	s := web.New(web.Deps{Config: app.Config, Registry: app.Registry, Resources: app.Resources,
		OpenAPI: web.OpenAPIOptions{Expose: web.OpenAPIOff}})
	raw, err := s.OpenAPI()
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Contains(t, schemasOf(doc), "GadgetPart")
	assert.Contains(t, pathsOf(doc), "/api/v1/resource/Gadget Part/{name}")
	assert.NotContains(t, pathsOf(doc), "/api/v1/openapi.json", "off: not served")
	v, err := openapitest.New(raw)
	require.NoError(t, err)
	assert.Empty(t, v.ValidateDocument())
}

func TestOpenAPIPathOf(t *testing.T) {
	for in, want := range map[string]string{
		"/api/v1/resource/:doctype/:name": "/api/v1/resource/{doctype}/{name}",
		"/static/*":                       "/static/{path}",
		"/healthz":                        "/healthz",
	} {
		assert.Equal(t, want, web.OpenAPIPathOf(in))
	}
}

// countingPolicy is the rule evaluator, counting its decisions.
type countingPolicy struct {
	ports.PermissionEvaluator
	n atomic.Int64
}

func (c *countingPolicy) Evaluate(ctx context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	c.n.Add(1)
	return c.PermissionEvaluator.Evaluate(ctx, req)
}

// TestOpenAPIAsksThePolicyOnce: fetching the document asks the policy once
// per DocType per caller, not on every fetch, and logs no "permission
// denied" for the DocTypes left out (listing them refuses nobody). The
// answer is private to the caller: Cache-Control private, Vary on the
// credentials and the tenant header.
func TestOpenAPIAsksThePolicyOnce(t *testing.T) {
	policy := &countingPolicy{}
	var logs fmtest.LogBuffer
	cfg := fullConfig(t)
	cfg.Permissions.Backend = "counting"
	app := fmtest.NewWithConfig(t, cfg,
		frameworkm.WithDocType[Note](noteMeta), frameworkm.WithDocType[Gadget](gadgetMeta),
		frameworkm.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		frameworkm.WithPermissionBackend("counting", frameworkm.Factory(func(d frameworkm.Deps) (ports.PermissionEvaluator, error) {
			policy.PermissionEvaluator = rbac.New(d.Registry, rbac.Options{AdminRoles: d.Config.Permissions.AdminRoles})
			return policy, nil
		})))
	writer := app.As(fmtest.User("w", "Writer"))

	res := writer.Get(web.OpenAPIPath).RequireStatus(t, http.StatusOK)
	first := policy.n.Load()
	require.Positive(t, first, "the policy decides what the caller sees")
	assert.Equal(t, "private, no-cache", res.Header.Get("Cache-Control"))
	assert.Contains(t, res.Header.Get("Vary"), app.Config.Tenancy.TenantHeader)
	assert.Contains(t, res.Header.Get("Vary"), "Authorization")
	for range 5 {
		writer.Get(web.OpenAPIPath).RequireStatus(t, http.StatusOK)
	}
	assert.Equal(t, first, policy.n.Load(), "asked again within seconds: the policy is not asked again")
	assert.NotContains(t, logs.String(), "permission denied", "leaving a DocType out of the document refuses nobody")

	// The same user with other attributes (which a policy may read) is
	// asked about again.
	attributed := fmtest.User("w", "Writer")
	attributed.Attributes = map[string]any{"department": "sales"}
	app.As(attributed).Get(web.OpenAPIPath).RequireStatus(t, http.StatusOK)
	assert.Greater(t, policy.n.Load(), first, "other attributes: the policy is asked")
	first = policy.n.Load()

	// So is a credential of the same user with other scopes, and one with
	// scopes that would spell the same if joined naively: each gets its own
	// answer.
	for _, tc := range []struct {
		scopes []string
		note   bool
	}{
		{[]string{"read\x01Note:read"}, false}, // no DocType is "read\x01Note"
		{[]string{"read", "Note:read"}, true},
		{[]string{"Gadget Part:read"}, false},
	} {
		scoped := fmtest.User("w", "Writer")
		scoped.Scopes = tc.scopes
		_, d := document(t, app.As(scoped))
		if tc.note {
			assert.Contains(t, schemasOf(d), "Note", "scopes %q", tc.scopes)
		} else {
			assert.NotContains(t, schemasOf(d), "Note", "scopes %q", tc.scopes)
		}
	}
	first = policy.n.Load()

	// Another caller is asked about on their own; their answer differs.
	_, gadgeteer := document(t, app.As(fmtest.User("g", "Gadgeteer")))
	assert.Greater(t, policy.n.Load(), first)
	assert.Contains(t, schemasOf(gadgeteer), "GadgetPart")
	assert.NotContains(t, schemasOf(gadgeteer), "Note")

	// A real refusal is still logged.
	app.As(fmtest.User("g", "Gadgeteer")).Get("/api/v1/resource/Note").RequireStatus(t, http.StatusForbidden)
	assert.Contains(t, logs.String(), "permission denied")
}
