package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// healthHandler serves the liveness and readiness probes.
type healthHandler struct {
	// ready reports whether the app can serve (nil: always ready).
	ready func(ctx context.Context) error
	log   *slog.Logger
}

// bindHealth registers /healthz (the process answers) and /readyz (the
// database answers) outside the API group: no auth, tenant or limits.
func bindHealth(e *echo.Echo, base []echo.MiddlewareFunc, ready func(ctx context.Context) error, log *slog.Logger) {
	h := healthHandler{ready: ready, log: log}
	e.GET("/healthz", h.healthz, base...)
	e.GET("/readyz", h.readyz, base...)
}

func (h healthHandler) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (h healthHandler) readyz(c echo.Context) error {
	if h.ready != nil {
		if err := h.ready(c.Request().Context()); err != nil {
			h.log.WarnContext(c.Request().Context(), "not ready", "err", err)
			return c.JSON(http.StatusServiceUnavailable, ErrorBody{
				RequestID: requestID(c),
				Error:     ErrorDetail{Code: "unavailable", Message: "database unreachable"},
			})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
