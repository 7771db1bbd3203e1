package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
)

// CSRF header and cookie of cookie sessions.
const (
	// HeaderCSRF carries the session's CSRF token on unsafe requests.
	HeaderCSRF = "X-CSRF-Token"
	// CSRFCookieName is the script-readable cookie holding the CSRF token.
	CSRFCookieName = "csrf_token"
)

// csrf requires the session's CSRF token in X-CSRF-Token on every unsafe
// request authenticated by a session cookie.
func csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		u := userOf(c)
		if u == nil || u.SessionID == "" {
			return next(c)
		}
		if !auth.CheckCSRF(u.CSRFHash, c.Request().Header.Get(HeaderCSRF)) {
			return core.Public(core.ErrForbidden, "missing or invalid CSRF token: send the csrf_token cookie's value in X-CSRF-Token")
		}
		return next(c)
	}
}
