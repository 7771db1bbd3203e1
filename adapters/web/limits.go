package web

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/quietlog"
	"github.com/framework-m/framework-m/ports"
)

// corsMiddleware answers preflights and adds CORS headers for the configured
// origins; with none configured, the API stays same-origin (nil).
func corsMiddleware(c config.CORS) echo.MiddlewareFunc {
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

// rateLimits are the per-address and per-user request limits of [rate_limit].
type rateLimits struct {
	// limiter counts requests; nil disables limiting.
	limiter ports.RateLimiter
	cfg     config.RateLimit
	log     *slog.Logger
	// quiet keeps a down limiter from logging on every request.
	quiet *quietlog.Limiter
	// metrics counts rejections (nil: off).
	metrics *webMetrics
}

// enabled reports whether requests are counted at all.
func (l rateLimits) enabled() bool { return l.cfg.Enabled && l.limiter != nil }

func (l rateLimits) window() time.Duration {
	return time.Duration(l.cfg.WindowSeconds) * time.Second
}

// allow counts one request against key. If the limiter itself fails the
// request passes (availability first) and the failure is logged.
func (l rateLimits) allow(c echo.Context, key string, limit int) (ports.RateDecision, bool) {
	ctx := c.Request().Context()
	d, err := l.limiter.Allow(ctx, key, limit, l.window())
	if err != nil {
		if n, ok := l.quiet.Allow("rate limiter", time.Now()); ok {
			l.log.WarnContext(ctx, "rate limiter failed; requests let through", "err", err, "request_id", requestID(c), "suppressed", n)
		}
		return d, false
	}
	return d, true
}

// perAddress caps all requests of one client address before authentication.
func (l rateLimits) perAddress(next echo.HandlerFunc) echo.HandlerFunc {
	if !l.enabled() {
		return next
	}
	return func(c echo.Context) error {
		d, counted := l.allow(c, "addr:"+auth.ClientKey(c.RealIP()), l.cfg.RequestsPerIP)
		if counted && !d.Allowed {
			l.metrics.limitRejected(scopeAddress)
			return &core.RateLimitError{Message: "too many requests from this address; try again later", RetryAfter: max(d.RetryAfter, time.Second)}
		}
		return next(c)
	}
}

// perUser caps requests per user (per client address when anonymous) in a
// window, answering 429 with Retry-After beyond it, and tells every client
// its budget in X-RateLimit-Limit, -Remaining and -Reset (Unix seconds). If the
// limiter itself fails, requests pass (and the failure is logged).
func (l rateLimits) perUser(next echo.HandlerFunc) echo.HandlerFunc {
	if !l.enabled() {
		return next
	}
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		key := "req:" + ports.TenantIDFrom(ctx) + ":"
		if u := ports.UserFrom(ctx); u != nil {
			key += "u:" + u.ID
		} else {
			key += "ip:" + auth.ClientKey(c.RealIP())
		}
		d, counted := l.allow(c, key, l.cfg.Requests)
		if !counted {
			return next(c)
		}
		h := c.Response().Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
		if !d.Allowed {
			l.metrics.limitRejected(scopeUser)
			return &core.RateLimitError{Message: "rate limit exceeded; try again later", RetryAfter: max(d.RetryAfter, time.Second)}
		}
		return next(c)
	}
}
