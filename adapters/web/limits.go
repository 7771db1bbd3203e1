package web

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// corsMiddleware answers preflights and adds CORS headers for the configured
// origins; with none configured, the API stays same-origin (nil).
func (s *Server) corsMiddleware() echo.MiddlewareFunc {
	c := s.deps.Config.CORS
	if len(c.AllowedOrigins) == 0 {
		return nil
	}
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:     c.AllowedOrigins,
		AllowMethods:     c.AllowedMethods,
		AllowHeaders:     c.AllowedHeaders,
		ExposeHeaders:    c.ExposeHeaders,
		AllowCredentials: c.AllowCredentials,
		MaxAge:           c.MaxAgeSeconds,
	})
}

// allow counts one request against key. If the limiter itself fails the
// request passes (availability first) and the failure is logged.
func (s *Server) allow(c echo.Context, key string, limit int, window time.Duration) (ports.RateDecision, bool) {
	ctx := c.Request().Context()
	d, err := s.deps.RateLimiter.Allow(ctx, key, limit, window)
	if err != nil {
		s.log.ErrorContext(ctx, "rate limiter failed; request let through", "err", err, "request_id", requestID(c))
		return d, false
	}
	return d, true
}

// limitAddress caps all requests of one client address before authentication.
func (s *Server) limitAddress(next echo.HandlerFunc) echo.HandlerFunc {
	rl := s.deps.Config.RateLimit
	if !rl.Enabled || s.deps.RateLimiter == nil {
		return next
	}
	window := time.Duration(rl.WindowSeconds) * time.Second
	return func(c echo.Context) error {
		d, counted := s.allow(c, "addr:"+auth.ClientKey(c.RealIP()), rl.RequestsPerIP, window)
		if counted && !d.Allowed {
			return &core.RateLimitError{Message: "too many requests from this address; try again later", RetryAfter: max(d.RetryAfter, time.Second)}
		}
		return next(c)
	}
}

// rateLimit caps requests per user (per client address when anonymous) in a
// window, answering 429 with Retry-After beyond it, and tells every client
// its budget in X-RateLimit-Limit, -Remaining and -Reset (Unix seconds). If the
// limiter itself fails, requests pass (and the failure is logged).
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	rl := s.deps.Config.RateLimit
	if !rl.Enabled || s.deps.RateLimiter == nil {
		return next
	}
	window := time.Duration(rl.WindowSeconds) * time.Second
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		key := "req:" + ports.TenantIDFrom(ctx) + ":"
		if u := ports.UserFrom(ctx); u != nil {
			key += "u:" + u.ID
		} else {
			key += "ip:" + auth.ClientKey(c.RealIP())
		}
		d, counted := s.allow(c, key, rl.Requests, window)
		if !counted {
			return next(c)
		}
		h := c.Response().Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
		if !d.Allowed {
			return &core.RateLimitError{Message: "rate limit exceeded; try again later", RetryAfter: max(d.RetryAfter, time.Second)}
		}
		return next(c)
	}
}
