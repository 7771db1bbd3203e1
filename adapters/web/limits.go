package web

import (
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
			key += "ip:" + c.RealIP()
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
