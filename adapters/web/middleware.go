package web

import (
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/settings"
	"github.com/framework-m/framework-m/ports"
)

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-ID"

const ctxRequestID = "fm.request_id"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// assignRequestID adopts a well-formed incoming X-Request-ID or makes one, and echoes it.
func assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderRequestID)
		if !requestIDPattern.MatchString(id) {
			id = doctype.NewUUIDv7()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(HeaderRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	if id, ok := c.Get(ctxRequestID).(string); ok {
		return id
	}
	return c.Response().Header().Get(HeaderRequestID)
}

// expectedUnavailable marks (in the Echo context) a 503 a handler wrote on
// purpose, which the access log keeps at info.
const expectedUnavailable = "framework-m:expected-unavailable"

// accessLog logs one line per request, after errors have been written. It
// never reads the request or response body.
func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the error response now, so its status is logged
			}
			req := c.Request()
			res := c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 && !errors.Is(err, core.ErrUnavailable) && c.Get(expectedUnavailable) == nil {
				// An expected unavailability (maintenance mode, a dependency
				// down, /readyz saying so) is no error of the app's.
				level = slog.LevelError
			}
			ctx := req.Context()
			attrs := []slog.Attr{
				slog.String("method", req.Method),
				slog.String("path", req.URL.Path),
				slog.Int("status", res.Status),
				slog.Int64("bytes", res.Size),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", requestID(c)),
				slog.String("remote", c.RealIP()),
			}
			if u := ports.UserFrom(ctx); u != nil {
				attrs = append(attrs, slog.String("user", u.ID))
			}
			if t := ports.TenantIDFrom(ctx); t != "" {
				attrs = append(attrs, slog.String("tenant", t))
			}
			if id := traceID(c); id != "" {
				attrs = append(attrs, slog.String("trace_id", id))
			}
			log.LogAttrs(ctx, level, "request", attrs...)
			return nil
		}
	}
}

// recoverPanic turns a panic into an error carrying its stack.
func recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = &panicError{value: r, stack: debug.Stack()}
			}
		}()
		return next(c)
	}
}

// authenticate resolves the request's tenant, then runs the auth chain in it
// and puts the principal, the tenant and the request's metadata (id, client
// address, user agent: ports.RequestInfo, which change events carry) in the
// request context. No credential leaves the request anonymous (protected
// routes then answer 401); an invalid one is a 401 right away; a principal of
// another tenant is a 403; a principal who must change a temporary password
// is a 403 password_change_required everywhere but the routes that do that
// (passwordChangeExempt).
func authenticate(tenants ports.TenantResolver, chain *auth.Chain, log *slog.Logger, metrics *webMetrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx := ports.WithClientIP(ports.WithPeerAddr(req.Context(), req.RemoteAddr), c.RealIP())
			ctx = ports.WithRequestInfo(ctx, ports.RequestInfo{ID: requestID(c), ClientIP: c.RealIP(), UserAgent: req.UserAgent()})
			tenant, err := tenants.CurrentTenant(ports.WithRequestHeader(ctx, req.Header))
			if err != nil {
				return err
			}
			ctx = ports.WithTenant(ctx, tenant)
			for _, h := range credentialHeaders {
				if len(req.Header.Values(h)) > 1 {
					// Which one would a gateway in front have checked? Refuse
					// rather than pick.
					return core.Invalidf(h, "was sent more than once")
				}
			}
			var u *ports.UserContext
			// Logging in needs no principal: a stale cookie or token must not stop
			// anyone from logging in, and a new session replaces the old one anyway.
			if !isLogin(req) {
				u, err = chain.Authenticate(ctx, req.Header)
			}
			if err != nil {
				if errorsIsUnauthorized(err) {
					log.InfoContext(ctx, "authentication failed", "err", err, "remote", req.RemoteAddr, "tenant", tenant.ID, "request_id", requestID(c))
					metrics.authFailed(chain, req.Header)
				}
				return err
			}
			if u != nil {
				if u.TenantID != "" && u.TenantID != tenant.ID {
					log.WarnContext(ctx, "principal of another tenant refused", "user", u.ID, "user_tenant", u.TenantID, "tenant", tenant.ID, "request_id", requestID(c))
					return core.Public(core.ErrForbidden, "this account belongs to another tenant")
				}
				u.TenantID = tenant.ID
				ctx = ports.WithUser(ctx, u)
			}
			c.SetRequest(req.WithContext(ctx))
			if u != nil && u.PasswordChangeRequired && !passwordChangeExempt(req) {
				return refuseUntilPasswordChange(c)
			}
			return next(c)
		}
	}
}

// passwordChangeExempt reports whether a principal logged in with a
// temporary password may use req's route: changing the password, reading
// /auth/me and logging out.
func passwordChangeExempt(req *http.Request) bool {
	switch req.URL.Path {
	case APIPrefix + "/auth/password", APIPrefix + "/auth/logout":
		return req.Method == http.MethodPost
	case APIPrefix + "/auth/me":
		return req.Method == http.MethodGet || req.Method == http.MethodHead
	}
	return false
}

// refuseUntilPasswordChange answers 403 with code password_change_required
// to a principal whose password an admin reset, until they change it.
func refuseUntilPasswordChange(c echo.Context) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusForbidden)
	}
	return c.JSON(http.StatusForbidden, ErrorBody{RequestID: requestID(c), Error: ErrorDetail{
		Code:    "password_change_required",
		Message: "your password was reset: choose a new one with POST " + APIPrefix + "/auth/password first",
	}})
}

// credentialHeaders may each carry one credential only.
var credentialHeaders = []string{echo.HeaderAuthorization, auth.HeaderAPIKey}

func isLogin(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == APIPrefix+"/auth/login"
}

func errorsIsUnauthorized(err error) bool {
	m, _ := classify(err)
	return m.status == http.StatusUnauthorized
}

// RequireUser is route middleware answering 401 to anonymous requests.
func RequireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ports.UserFrom(c.Request().Context()) == nil {
			return core.Public(core.ErrUnauthorized, "authentication required")
		}
		return next(c)
	}
}

// unscoped refuses credentials restricted by scopes (API keys with scopes)
// on account-management routes, so a narrow key cannot mint a broad one.
func unscoped(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if userOf(c).Scoped() {
			return core.Public(core.ErrForbidden, "a scoped API key cannot manage the account")
		}
		return next(c)
	}
}

// maintenance answers 503 to non-admin requests while maintenance mode is on.
// Reading settings and the auth routes stay open, so admins can log in and
// switch it off. With no settings service it lets everything through.
func maintenance(svc *settings.Service, adminRoles []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if svc == nil || maintenanceExempt(req) {
				return next(c)
			}
			ctx := req.Context()
			if isAdmin(ports.UserFrom(ctx), adminRoles) {
				return next(c)
			}
			if svc.Maintenance(ctx) {
				c.Response().Header().Set("Retry-After", "300")
				return core.Public(core.ErrUnavailable, "the application is in maintenance mode; try again later")
			}
			return next(c)
		}
	}
}

func maintenanceExempt(req *http.Request) bool {
	p := req.URL.Path
	return (p == APIPrefix+"/settings" && (req.Method == http.MethodGet || req.Method == http.MethodHead)) ||
		strings.HasPrefix(p, APIPrefix+"/auth/")
}

// isAdmin reports whether u holds one of adminRoles ([permissions]
// admin_roles), or is the system.
func isAdmin(u *ports.UserContext, adminRoles []string) bool {
	if u == nil {
		return false
	}
	if u.IsSystemUser() {
		return true
	}
	for _, r := range adminRoles {
		if u.HasRole(r) {
			return true
		}
	}
	return false
}
