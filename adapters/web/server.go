// Package web is the HTTP adapter: Echo routes and middleware for the resource
// API, settings, health checks and the JSON error shape. It translates HTTP to
// calls of core services and core errors back to HTTP; business rules live in core.
//
// Each feature has one file with a bind function (bindHealth, bindAuth,
// bindAPIKeys, bindSessions, bindAccount, bindSettings, bindResource) that
// registers its routes on a small handler struct holding only the services it
// uses; Mount is the list of those calls.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/core/audit"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/core/email/drafts"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/core/notify"
	printing "github.com/framework-m/framework-m/core/print"
	"github.com/framework-m/framework-m/core/quietlog"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/core/roles"
	"github.com/framework-m/framework-m/core/settings"
	"github.com/framework-m/framework-m/ports"
)

// APIPrefix is the path prefix of every API route.
const APIPrefix = "/api/v1"

// Deps are the services the web adapter serves. Each feature's bind function
// receives only the ones it uses.
type Deps struct {
	// Config is the app's configuration ([app], [auth], [cors], [rate_limit] …).
	Config config.Config
	// Logger receives the access log and error logs (nil: slog.Default()).
	Logger *slog.Logger
	// Registry knows every DocType (marshals documents in responses).
	Registry *doctype.Registry
	// Resources serves the generic document API (nil: no /resource routes).
	Resources *resource.Service
	// Settings serves System Settings and maintenance mode (nil: neither).
	Settings *settings.Service
	// Auth is the strategy chain that turns a credential into a principal.
	Auth *auth.Chain
	// Errors records unexpected errors (ErrorLog); nil only logs them.
	Errors ports.ErrorRecorder
	// Dependencies are what /readyz checks.
	Dependencies []ports.Dependency
	// AuthService runs logins, logouts and credential checks (nil: no auth routes).
	AuthService *auth.Service
	// Accounts serves the user's own account routes (nil: none).
	Accounts *auth.Accounts
	// GatewayHeaders are dropped from requests whose peer is not a trusted proxy.
	GatewayHeaders []string
	// Tenants resolves each request's tenant (nil: the default tenant).
	Tenants ports.TenantResolver
	// RateLimiter counts API requests ([rate_limit]); nil disables limiting.
	RateLimiter ports.RateLimiter
	// Roles knows the tenant's roles (nil: no /roles routes).
	Roles *roles.Service
	// Explainer says what a role grants; nil when the permission backend
	// cannot (a policy service): /roles/{role}/permissions then says so.
	Explainer ports.PermissionExplainer
	// Users serves user administration for admins (nil: no /users routes).
	Users *auth.UserAdmin
	// Files serves stored files (nil: no /file routes).
	Files *files.Service
	// Notifications serves the caller's notifications and their stream
	// (nil: no /notifications routes).
	Notifications *notify.Service
	// Activity serves the audit trail as an activity feed (nil: no
	// /activity routes).
	Activity *audit.Feed
	// Print serves /api/v1/print (nil: no print routes).
	Print *printing.Service
	// Email serves the admin API of the email queue, /api/v1/email-queue
	// (nil: none).
	Email *email.Service
	// EmailDrafts serves /api/v1/email/drafts (nil: none).
	EmailDrafts *drafts.Service
	// MagicLinks serves /api/v1/auth/magic-link (nil: none).
	MagicLinks *auth.MagicLinks
	// OAuth serves /api/v1/auth/oauth (nil: none).
	OAuth *auth.OAuth
	// Tracer makes a server span per request ([tracing]); nil: tracing off,
	// no middleware and no overhead.
	Tracer trace.TracerProvider
	// Propagator reads the W3C traceparent of requests from trusted proxies
	// (nil: every request starts a new trace).
	Propagator propagation.TextMapPropagator
	// OpenAPI configures GET /api/v1/openapi.json ([openapi]).
	OpenAPI OpenAPIOptions
	// Meter records the HTTP metrics ([metrics]): requests, latency, auth
	// failures, 403s, rate-limit rejections. Nil: metrics off, no middleware
	// and no overhead.
	Meter ports.Meter
	// MetricsHandler serves GET /metrics on the main listener (nil: no such
	// route — metrics off, or on a listener of their own: MetricsServer).
	MetricsHandler http.Handler
	// MetricsToken, when set, is the bearer token GET /metrics requires.
	MetricsToken string
	// Routes add the app's own routes to the /api/v1 group, behind the same
	// middleware as the framework's (request id, log, recover, auth, tenant,
	// maintenance). Use Deps' helpers such as RequireUser on them.
	Routes []func(api *echo.Group)
}

// Server holds the routes and middleware.
type Server struct {
	deps    Deps
	proxies []netip.Prefix
	tenants ports.TenantResolver
	errors  *errorHandler
	gateway *gatewayGuard
	// metrics records the HTTP metrics (nil: off).
	metrics *webMetrics
	// docs describe the routes Mount registers (the OpenAPI document).
	docs *routeDocs
	// vary names the request headers that decide who the caller is and in
	// which tenant: the Vary of answers that differ by caller.
	vary string
}

// fixedTenant resolves every request to one tenant.
type fixedTenant string

func (f fixedTenant) CurrentTenant(context.Context) (*ports.TenantContext, error) {
	return &ports.TenantContext{ID: string(f), IsDefault: true}, nil
}

func (f fixedTenant) TenantAttributes(context.Context, string) (map[string]any, error) {
	return map[string]any{}, nil
}

// New returns a Server over deps.
func New(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Auth == nil {
		deps.Auth = auth.NewChain()
	}
	tenants := deps.Tenants
	if tenants == nil {
		tenants = fixedTenant(deps.Config.Tenancy.DefaultTenantID)
	}
	proxies := trustedProxies(deps.Config)
	metrics := newWebMetrics(deps.Meter, deps.Registry)
	return &Server{
		metrics: metrics,
		deps:    deps,
		proxies: proxies,
		tenants: tenants,
		errors: &errorHandler{
			log:      deps.Logger,
			registry: deps.Registry,
			recorder: deps.Errors,
			debug:    deps.Config.App.Debug,
			metrics:  metrics,
		},
		gateway: &gatewayGuard{headers: deps.GatewayHeaders, proxies: proxies, log: deps.Logger},
		docs:    newRouteDocs(),
		vary:    callerVary(deps.Config.Tenancy.TenantHeader),
	}
}

// callerVary is the Vary value of answers that differ by caller: the
// credentials' headers and the tenant's.
func callerVary(tenantHeader string) string {
	v := "Authorization, Cookie, " + auth.HeaderAPIKey
	if tenantHeader != "" {
		v += ", " + tenantHeader
	}
	return v
}

// Mount registers every route on e and makes e answer errors (including its own
// 404 and 405) in the JSON error shape.
//
// Request bodies are read by the handlers that want them: JSON handlers call
// readJSON, which applies [app] max_body_bytes. Nothing in the middleware
// stack buffers or limits bodies, so streaming routes (uploads, downloads,
// WebSockets) do not call readJSON; the access log never reads bodies.
// They still sit behind the same authentication and tenant middleware.
func (s *Server) Mount(e *echo.Echo) {
	d := s.deps
	e.HTTPErrorHandler = s.errors.handle
	e.IPExtractor = ipExtractor(s.proxies)
	e.Pre(headAsGet(e))
	base := []echo.MiddlewareFunc{assignRequestID}
	if tr := s.traceRequests(); tr != nil {
		base = append(base, tr)
	}
	if s.metrics != nil {
		base = append(base, s.metrics.observe)
	}
	base = append(base, accessLog(d.Logger), recoverPanic)
	api := e.Group(APIPrefix, s.apiMiddleware(base)...)
	maxBody := d.Config.App.MaxBodyBytes
	cookies := sessionCookies{cfg: d.Config.Auth.Session}

	docs := s.docs
	bindHealth(e, base, d.Dependencies, d.Logger, docs)
	bindMetrics(e, base, d.MetricsHandler, d.MetricsToken, docs)
	bindAuth(e, base, api, d.AuthService, cookies, maxBody, docs)
	bindAPIKeys(api, d.AuthService, maxBody, docs)
	bindSessions(api, d.AuthService, cookies, docs)
	bindAccount(api, d.Accounts, d.Registry, cookies, d.Logger, maxBody, docs)
	bindSettings(api, d.Settings, maxBody, s.vary, docs)
	bindResource(api, d.Resources, maxBody, docs)
	bindUsers(api, d.Users, maxBody, docs)
	bindRoles(api, d.Roles, d.Explainer, d.Config.Permissions.AdminRoles, d.Users, docs)
	bindFiles(api, d.Files, maxBody, docs)
	bindNotifications(api, d.Notifications, d.Auth, d.Config.CORS, d.Logger, docs)
	bindActivity(api, d.Activity, docs)
	bindPrint(api, d.Print, maxBody, docs)
	bindEmailQueue(api, d.Email, maxBody, docs)
	bindEmailDrafts(api, d.EmailDrafts, maxBody, docs)
	bindMagicLink(api, d.MagicLinks, cookies, maxBody, docs)
	bindOAuth(api, d.OAuth, cookies, maxBody, docs)
	bindOpenAPI(e, api, s, docs)
	bindDocs(e, s.apiMiddleware(base), d.OpenAPI.Expose, d.OpenAPI.Title, docs)
	for _, add := range d.Routes {
		add(api)
	}

	// Group middleware makes Echo route every unmatched /api/v1 path to a 404
	// handler, even when the path exists for another method; tell those apart.
	api.RouteNotFound("", apiNotFound(e))
	api.RouteNotFound("/*", apiNotFound(e))
}

// apiMiddleware is the /api/v1 chain, in the order of the request path:
// base, CORS, untrusted gateway headers, per-address limit, tenant and auth,
// per-user limit, CSRF, maintenance.
func (s *Server) apiMiddleware(base []echo.MiddlewareFunc) []echo.MiddlewareFunc {
	d := s.deps
	mws := slices.Clone(base)
	if cors := corsMiddleware(d.Config.CORS); cors != nil {
		mws = append(mws, cors)
	}
	limits := rateLimits{limiter: d.RateLimiter, cfg: d.Config.RateLimit, log: d.Logger, quiet: &quietlog.Limiter{}, metrics: s.metrics}
	return append(mws,
		s.gateway.drop,
		limits.perAddress,
		authenticate(s.tenants, d.Auth, d.Logger, s.metrics),
		limits.perUser,
		csrf,
		maintenance(d.Settings, d.Config.Permissions.AdminRoles),
	)
}

// apiNotFound answers 405 (with Allow) when the path has routes for other
// methods, else 404.
func apiNotFound(e *echo.Echo) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Request().URL.Path
		var allow []string
		for _, r := range e.Routes() {
			if r.Method == echo.RouteNotFound || !strings.HasPrefix(r.Path, APIPrefix) || slices.Contains(allow, r.Method) {
				continue
			}
			if pathMatches(r.Path, path) {
				allow = append(allow, r.Method)
			}
		}
		if len(allow) > 0 {
			if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
				allow = append(allow, http.MethodHead) // see headAsGet
			}
			slices.Sort(allow)
			c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
			return echo.ErrMethodNotAllowed
		}
		return echo.ErrNotFound
	}
}

// headAsGet answers HEAD wherever GET is on the framework's paths (/api/v1,
// the health probes, the JWKS): a HEAD request without a HEAD route of its
// own is served again as a GET copy of itself. The server still holds the
// HEAD request, so net/http sends the GET's status and headers and drops its
// body. Other Pre middleware therefore sees a HEAD request twice, once as
// HEAD and once as GET. 405s of those paths list HEAD beside GET.
func headAsGet(e *echo.Echo) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			path := req.URL.Path
			if !frameworkPath(path) {
				return next(c)
			}
			if req.Method == http.MethodHead && !hasRoute(e, http.MethodHead, path) {
				get := req.WithContext(req.Context()) // a shallow copy
				get.Method = http.MethodGet
				e.ServeHTTP(c.Response(), get)
				return nil
			}
			if !strings.HasPrefix(path, APIPrefix+"/") {
				// Echo's router answers these paths' 405s (apiNotFound
				// the API's): add HEAD to its Allow before it is sent.
				res := c.Response()
				res.Before(func() { allowHead(res.Header()) })
			}
			return next(c)
		}
	}
}

// frameworkPath reports whether path is one of the framework's: the API and
// the routes outside it.
func frameworkPath(path string) bool {
	switch path {
	case APIPrefix, "/healthz", "/readyz", "/.well-known/jwks.json", MetricsPath, DocsPath:
		return true
	}
	return strings.HasPrefix(path, APIPrefix+"/") || strings.HasPrefix(path, DocsPath+"/")
}

// hasRoute reports whether e has a route of method matching path.
func hasRoute(e *echo.Echo, method, path string) bool {
	for _, r := range e.Routes() {
		if r.Method == method && pathMatches(r.Path, path) {
			return true
		}
	}
	return false
}

// allowHead adds HEAD to an Allow header that lists GET.
func allowHead(h http.Header) {
	v := h.Get(echo.HeaderAllow)
	if v == "" {
		return
	}
	methods := strings.Split(v, ",")
	for i := range methods {
		methods[i] = strings.TrimSpace(methods[i])
	}
	if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
		h.Set(echo.HeaderAllow, v+", "+http.MethodHead)
	}
}

// pathMatches reports whether path matches an Echo route pattern (:param
// segments match one segment, a trailing * matches the rest).
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, seg := range ps {
		if seg == "*" {
			return true
		}
		if i >= len(xs) || (seg != xs[i] && !(strings.HasPrefix(seg, ":") && xs[i] != "")) {
			return false
		}
	}
	return len(ps) == len(xs)
}

// Echo returns a new Echo instance with every route mounted.
func (s *Server) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s.Mount(e)
	return e
}
