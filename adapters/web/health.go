package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/core/quietlog"
	"github.com/framework-m/framework-m/ports"
)

// ReadyTimeout bounds each dependency's check in /readyz.
const ReadyTimeout = time.Second

// healthHandler serves the liveness and readiness probes.
type healthHandler struct {
	// deps are what /readyz checks (none: always ready).
	deps  []ports.Dependency
	log   *slog.Logger
	quiet *quietlog.Limiter
}

// bindHealth registers /healthz (the process answers) and /readyz (every
// dependency, checked at once, each within ReadyTimeout) outside the API
// group: no auth, tenant or limits.
func bindHealth(e *echo.Echo, base []echo.MiddlewareFunc, deps []ports.Dependency, log *slog.Logger, docs *routeDocs) {
	h := healthHandler{deps: deps, log: log, quiet: &quietlog.Limiter{}}
	docs.add(e.GET("/healthz", h.healthz, base...), route{tag: "Health", summary: "Liveness: the process answers", access: public,
		responses: replies(reply(http.StatusOK, "alive", obj(map[string]*openapi.Schema{"status": str()})))})
	docs.add(e.GET("/readyz", h.readyz, base...), route{tag: "Health", summary: "Readiness: every required dependency answers", access: public,
		responses: replies(reply(http.StatusOK, "ready", schemaOf[readyBody]()),
			reply(http.StatusServiceUnavailable, "a required dependency is down", schemaOf[readyBody]()))})
}

func (h healthHandler) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyBody is /readyz's answer: the error shape when not ready, and every
// dependency's status ("ok" or "down") either way.
type readyBody struct {
	Status    string            `json:"status,omitempty"`
	Error     *ErrorDetail      `json:"error,omitempty"`
	Checks    map[string]string `json:"checks"`
	RequestID string            `json:"request_id,omitempty"`
}

func (h healthHandler) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	errs := make([]error, len(h.deps))
	var wg sync.WaitGroup
	for i, d := range h.deps {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
			defer cancel()
			errs[i] = d.Check(cctx)
		})
	}
	wg.Wait()
	body := readyBody{Status: "ok", Checks: make(map[string]string, len(h.deps))}
	var failed []string
	for i, d := range h.deps {
		body.Checks[d.Name] = "ok"
		if errs[i] == nil {
			continue
		}
		body.Checks[d.Name] = "down"
		if n, ok := h.quiet.Allow("readyz:"+d.Name, time.Now()); ok {
			h.log.WarnContext(ctx, "dependency not ready", "dependency", d.Name, "required", d.Required, "err", errs[i], "suppressed", n)
		}
		if d.Required {
			failed = append(failed, d.Name)
		}
	}
	if len(failed) > 0 {
		body.Status, body.RequestID = "", requestID(c)
		body.Error = &ErrorDetail{Code: "unavailable", Message: "not ready: " + strings.Join(failed, ", ") + " unreachable"}
		// The probe's answer, not a failure of the app's: the dependency's
		// own outage is logged where it is met (once per interval).
		c.Set(expectedUnavailable, true)
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, body)
}
