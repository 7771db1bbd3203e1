package web

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/framework-m/framework-m/core"
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

// addressKey groups IPv6 clients by /64.
func addressKey(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return ip
}

// limitAddress caps all requests of one client address before authentication.
func (s *Server) limitAddress(next echo.HandlerFunc) echo.HandlerFunc {
	rl := s.deps.Config.RateLimit
	if !rl.Enabled || s.deps.RateLimiter == nil {
		return next
	}
	window := time.Duration(rl.WindowSeconds) * time.Second
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		d, err := s.deps.RateLimiter.Allow(ctx, "addr:"+addressKey(c.RealIP()), rl.RequestsPerIP, window)
		if err != nil {
			s.log.ErrorContext(ctx, "rate limiter failed; request let through", "err", err, "request_id", requestID(c))
			return next(c)
		}
		if !d.Allowed {
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
			key += "ip:" + addressKey(c.RealIP())
		}
		d, err := s.deps.RateLimiter.Allow(ctx, key, rl.Requests, window)
		if err != nil {
			s.log.ErrorContext(ctx, "rate limiter failed; request let through", "err", err, "request_id", requestID(c))
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
