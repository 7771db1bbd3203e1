package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core/config"
)

// sessionCookies sets and clears the session cookie and its CSRF cookie, as
// [auth.session] describes them.
type sessionCookies struct {
	cfg config.Session
}

func (s sessionCookies) cookie(name, value string, expires time.Time, httpOnly bool) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", Secure: s.cfg.CookieSecure, HttpOnly: httpOnly}
	switch s.cfg.CookieSameSite {
	case "strict":
		ck.SameSite = http.SameSiteStrictMode
	case "none":
		ck.SameSite = http.SameSiteNoneMode
	default:
		ck.SameSite = http.SameSiteLaxMode
	}
	if value == "" {
		ck.MaxAge = -1
	} else {
		ck.Expires = expires
		ck.MaxAge = int(time.Until(expires).Seconds())
	}
	return ck
}

// set gives the client a session: its secret, and the CSRF token the page
// echoes in X-CSRF-Token.
func (s sessionCookies) set(c echo.Context, secret, csrf string, expires time.Time) {
	c.SetCookie(s.cookie(s.cfg.CookieName, secret, expires, s.cfg.CookieHTTPOnly))
	// Readable by the page's script, which echoes it in X-CSRF-Token.
	c.SetCookie(s.cookie(CSRFCookieName, csrf, expires, false))
}

// clear tells the client to forget both cookies.
func (s sessionCookies) clear(c echo.Context) {
	c.SetCookie(s.cookie(s.cfg.CookieName, "", time.Time{}, true))
	c.SetCookie(s.cookie(CSRFCookieName, "", time.Time{}, false))
}
