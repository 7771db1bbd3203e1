// Package web is the HTTP adapter: Echo routes and middleware for the resource
// API, settings, health checks and the JSON error shape. It translates HTTP to
// calls of core services and core errors back to HTTP; business rules live in core.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/core/settings"
	"github.com/framework-m/framework-m/ports"
)

// APIPrefix is the path prefix of every API route.
const APIPrefix = "/api/v1"

// Deps are the services the web adapter serves.
type Deps struct {
	Config    config.Config
	Logger    *slog.Logger
	Registry  *doctype.Registry
	Resources *resource.Service
	Settings  *settings.Service
	Auth      *auth.Chain
	// Errors records unexpected errors (ErrorLog); nil only logs them.
	Errors ports.ErrorRecorder
	// Ready reports whether the app can serve (database reachable).
	Ready func(ctx context.Context) error
	// AuthService runs logins, logouts and credential checks (nil: no auth routes).
	AuthService *auth.Service
	// Accounts serves the user's own account routes.
	Accounts *auth.Accounts
	// GatewayHeaders are dropped from requests whose peer is not a trusted proxy.
	GatewayHeaders []string
	// Tenants resolves each request's tenant (nil: the default tenant).
	Tenants ports.TenantResolver
	// RateLimiter counts API requests ([rate_limit]); nil disables limiting.
	RateLimiter ports.RateLimiter
	// Routes add the app's own routes to the /api/v1 group, behind the same
	// middleware as the framework's (request id, log, recover, auth, tenant,
	// maintenance). Use Deps' helpers such as RequireUser on them.
	Routes []func(api *echo.Group)
}

// Server holds the routes and middleware.
type Server struct {
	deps    Deps
	log     *slog.Logger
	proxies []netip.Prefix
	tenants ports.TenantResolver

	untrustedLog everyTen
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
	return &Server{deps: deps, log: deps.Logger, proxies: trustedProxies(deps.Config), tenants: tenants}
}

// Mount registers every route on e and makes e answer errors (including its own
// 404 and 405) in the JSON error shape.
func (s *Server) Mount(e *echo.Echo) {
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = s.ipExtractor()
	base := []echo.MiddlewareFunc{s.requestID, s.accessLog, s.recover}
	e.GET("/healthz", s.healthz, base...)
	e.GET("/readyz", s.readyz, base...)

	mws := base
	if cors := s.corsMiddleware(); cors != nil {
		mws = append(mws, cors)
	}
	mws = append(mws, s.dropUntrustedGatewayHeaders, s.limitAddress, s.authenticate, s.rateLimit, s.csrf, s.maintenance)
	api := e.Group(APIPrefix, mws...)
	s.mountAuth(e, api, base)
	api.GET("/settings", s.getSettings)
	api.PATCH("/settings", s.patchSettings, s.requireUser)

	// Route-level middleware, not a middleware group: a group would add its own
	// catch-all 404 route and hide 405s.
	api.GET("/resource/:doctype", s.list, s.requireUser)
	api.POST("/resource/:doctype", s.create, s.requireUser)
	api.GET("/resource/:doctype/:name", s.get, s.requireUser)
	api.PATCH("/resource/:doctype/:name", s.patch, s.requireUser)
	api.DELETE("/resource/:doctype/:name", s.delete, s.requireUser)

	for _, add := range s.deps.Routes {
		add(api)
	}
	// Group middleware makes Echo route every unmatched /api/v1 path to a 404
	// handler, even when the path exists for another method; tell those apart.
	api.RouteNotFound("", s.apiNotFound(e))
	api.RouteNotFound("/*", s.apiNotFound(e))
}

// apiNotFound answers 405 (with Allow) when the path has routes for other
// methods, else 404.
func (s *Server) apiNotFound(e *echo.Echo) echo.HandlerFunc {
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
			slices.Sort(allow)
			c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
			return echo.ErrMethodNotAllowed
		}
		return echo.ErrNotFound
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

// RequireUser is route middleware answering 401 to anonymous requests.
func RequireUser(next echo.HandlerFunc) echo.HandlerFunc { return (&Server{}).requireUser(next) }

// Echo returns a new Echo instance with every route mounted.
func (s *Server) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s.Mount(e)
	return e
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.deps.Ready != nil {
		if err := s.deps.Ready(c.Request().Context()); err != nil {
			s.log.WarnContext(c.Request().Context(), "not ready", "err", err)
			return c.JSON(http.StatusServiceUnavailable, ErrorBody{
				RequestID: requestID(c),
				Error:     ErrorDetail{Code: "unavailable", Message: "database unreachable"},
			})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
