package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// Auth route paths and headers.
const (
	HeaderCSRF     = "X-CSRF-Token"
	CSRFCookieName = "csrf_token"
)

// mountAuth registers the auth routes the mode has; the others answer 404.
func (s *Server) mountAuth(e *echo.Echo, api *echo.Group, base []echo.MiddlewareFunc) {
	a := s.deps.AuthService
	if a == nil {
		return
	}
	if a.Tokens != nil {
		e.GET("/.well-known/jwks.json", s.jwks, base...)
	}
	g := api.Group("/auth")
	g.GET("/me", s.me, s.requireUser)
	g.GET("/me/data", s.exportMe, s.requireUser, s.unscoped)
	g.DELETE("/me", s.deleteMe, s.requireUser, s.unscoped)
	g.GET("/me/preferences", s.getPreferences, s.requireUser)
	g.PATCH("/me/preferences", s.patchPreferences, s.requireUser)
	g.POST("/logout", s.logout, s.requireUser)
	mode := a.Users.Mode()
	if mode.HasPasswords() {
		g.POST("/login", s.login)
		g.POST("/password", s.changePassword, s.requireUser, s.unscoped)
	}
	if a.APIKeys != nil {
		g.GET("/api-keys", s.listKeys, s.requireUser, s.unscoped)
		g.POST("/api-keys", s.createKey, s.requireUser, s.unscoped)
		g.DELETE("/api-keys/:id", s.revokeKey, s.requireUser, s.unscoped)
	}
	if a.Sessions != nil {
		g.GET("/sessions", s.listSessions, s.requireUser, s.unscoped)
		g.DELETE("/sessions", s.revokeSessions, s.requireUser, s.unscoped)
		g.DELETE("/sessions/:id", s.revokeSession, s.requireUser, s.unscoped)
	}
}

// decodeStrict decodes a small fixed-shape JSON body, refusing unknown keys.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func userOf(c echo.Context) *ports.UserContext { return ports.UserFrom(c.Request().Context()) }

// unscoped refuses credentials restricted by scopes (API keys with scopes)
// on account-management routes, so a narrow key cannot mint a broad one.
func (s *Server) unscoped(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if userOf(c).Scoped() {
			return core.Public(core.ErrForbidden, "a scoped API key cannot manage the account")
		}
		return next(c)
	}
}

func data(c echo.Context, status int, v any) error {
	return c.JSON(status, map[string]any{"data": v})
}

func (s *Server) jwks(c echo.Context) error {
	set, ok := s.deps.AuthService.Tokens.JWKS()
	if !ok {
		return echo.ErrNotFound
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "max-age=300")
	return c.Blob(http.StatusOK, "application/jwk-set+json", set)
}

func (s *Server) me(c echo.Context) error { return data(c, http.StatusOK, userOf(c)) }

type loginBody struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Session  bool   `json:"session"`
}

// readLogin reads a JSON or form login. A form post must come from this
// origin (no login CSRF); a JSON post cannot be forged by a form.
func (s *Server) readLogin(c echo.Context) (loginBody, error) {
	var b loginBody
	req := c.Request()
	mt, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if origin := req.Header.Get(echo.HeaderOrigin); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || !strings.EqualFold(u.Host, req.Host) {
				return b, core.Public(core.ErrForbidden, "cross-origin form login refused")
			}
		}
		if site := req.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			return b, core.Public(core.ErrForbidden, "cross-site form login refused")
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, 64<<10)
		b.Username, b.Email, b.Password = c.FormValue("username"), c.FormValue("email"), c.FormValue("password")
		b.Session, _ = strconv.ParseBool(c.FormValue("session"))
	default:
		body, err := s.readJSON(c)
		if err != nil {
			return b, err
		}
		if err := decodeStrict(body, &b); err != nil {
			return b, core.Invalid("body", `must be {"username": "...", "password": "...", "session": false}`)
		}
	}
	if b.Username == "" {
		b.Username = b.Email
	}
	verr := &core.ValidationError{}
	if b.Username == "" {
		verr.Add("username", "is required")
	}
	if b.Password == "" {
		verr.Add("password", "is required")
	}
	if len(b.Username) > 254 || len(b.Password) > 4096 {
		verr.Add("username", "too long")
	}
	if q := c.QueryParam("session"); q != "" {
		v, err := strconv.ParseBool(q)
		if err != nil {
			verr.Add("session", "must be true or false")
		}
		b.Session = b.Session || v
	}
	return b, verr.Err()
}

// tokenResponse is the body of a successful login.
type tokenResponse struct {
	*ports.Token
	CSRFToken string `json:"csrf_token,omitempty"`
}

func (s *Server) login(c echo.Context) error {
	b, err := s.readLogin(c)
	if err != nil {
		return err
	}
	res, err := s.deps.AuthService.Login(c.Request().Context(), auth.LoginRequest{
		Email: b.Username, Password: b.Password, IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Session: b.Session,
	})
	if err != nil {
		return err
	}
	out := tokenResponse{Token: res.Token}
	if res.Session != nil {
		s.setSessionCookies(c, res.Session.Secret, res.Session.CSRFToken, res.Session.Session.ExpiresAt)
		out.CSRFToken = res.Session.CSRFToken
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, out)
}

func (s *Server) cookie(name, value string, expires time.Time, httpOnly bool) *http.Cookie {
	sc := s.deps.Config.Auth.Session
	ck := &http.Cookie{Name: name, Value: value, Path: "/", Secure: sc.CookieSecure, HttpOnly: httpOnly}
	switch sc.CookieSameSite {
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

func (s *Server) setSessionCookies(c echo.Context, secret, csrf string, expires time.Time) {
	sc := s.deps.Config.Auth.Session
	c.SetCookie(s.cookie(sc.CookieName, secret, expires, sc.CookieHTTPOnly))
	// Readable by the page's script, which echoes it in X-CSRF-Token.
	c.SetCookie(s.cookie(CSRFCookieName, csrf, expires, false))
}

func (s *Server) clearSessionCookies(c echo.Context) {
	c.SetCookie(s.cookie(s.deps.Config.Auth.Session.CookieName, "", time.Time{}, true))
	c.SetCookie(s.cookie(CSRFCookieName, "", time.Time{}, false))
}

func (s *Server) logout(c echo.Context) error {
	u := userOf(c)
	if err := s.deps.AuthService.Logout(c.Request().Context(), u); err != nil {
		return err
	}
	s.clearSessionCookies(c)
	return data(c, http.StatusOK, map[string]any{"logged_out": true, "session_ended": u.SessionID != "", "token_revoked": u.TokenID != ""})
}

func (s *Server) changePassword(c echo.Context) error {
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	var b struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeStrict(body, &b); err != nil || b.New == "" {
		return core.Invalid("new_password", `send {"current_password": "...", "new_password": "..."}`)
	}
	u := userOf(c)
	if err := s.deps.AuthService.Users.ChangePassword(c.Request().Context(), u.ID, b.Current, b.New); err != nil {
		return err
	}
	s.clearSessionCookies(c)
	return data(c, http.StatusOK, map[string]any{"password_changed": true, "sessions_ended": true})
}

func (s *Server) listKeys(c echo.Context) error {
	keys, err := s.deps.AuthService.APIKeys.List(c.Request().Context(), userOf(c).ID)
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, keys)
}

type createdKey struct {
	*ports.APIKey
	Key string `json:"key"`
}

func (s *Server) createKey(c echo.Context) error {
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	var b struct {
		Name            string     `json:"name"`
		Scopes          []string   `json:"scopes"`
		ExpiresAt       *time.Time `json:"expires_at"`
		CurrentPassword string     `json:"current_password"`
	}
	if err := decodeStrict(body, &b); err != nil {
		return core.Invalid("body", `must be {"name": "...", "current_password": "...", "scopes": ["read"], "expires_at": "2027-01-01T00:00:00Z"}`)
	}
	ctx := c.Request().Context()
	if err := s.deps.AuthService.Confirm(ctx, userOf(c), b.CurrentPassword); err != nil {
		return err
	}
	key, rec, err := s.deps.AuthService.APIKeys.Create(ctx, userOf(c).ID, auth.NewKey{Name: b.Name, Scopes: b.Scopes, ExpiresAt: b.ExpiresAt})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return data(c, http.StatusCreated, createdKey{APIKey: rec, Key: key})
}

func (s *Server) revokeKey(c echo.Context) error {
	id := param(c, "id")
	if err := s.deps.AuthService.APIKeys.Revoke(c.Request().Context(), userOf(c).ID, id); err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"id": id, "revoked": true})
}

type sessionView struct {
	*ports.Session
	Current bool `json:"current"`
}

func (s *Server) listSessions(c echo.Context) error {
	u := userOf(c)
	list, err := s.deps.AuthService.Sessions.List(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]sessionView, len(list))
	for i, sess := range list {
		out[i] = sessionView{Session: sess, Current: sess.ID == u.SessionID}
	}
	return data(c, http.StatusOK, out)
}

func (s *Server) revokeSession(c echo.Context) error {
	u := userOf(c)
	id := param(c, "id")
	if err := s.deps.AuthService.Sessions.Revoke(c.Request().Context(), u.ID, id); err != nil {
		return err
	}
	if id == u.SessionID {
		s.clearSessionCookies(c)
	}
	return data(c, http.StatusOK, map[string]any{"id": id, "revoked": true})
}

// revokeSessions logs out everywhere: every session ends and every token
// issued so far stops working.
func (s *Server) revokeSessions(c echo.Context) error {
	u := userOf(c)
	if err := s.deps.AuthService.Users.LogoutEverywhere(c.Request().Context(), u.ID); err != nil {
		return err
	}
	s.clearSessionCookies(c)
	return data(c, http.StatusOK, map[string]any{"logged_out_everywhere": true})
}

func (s *Server) exportMe(c echo.Context) error {
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="my-data.json"`)
	res.Header().Set(echo.HeaderCacheControl, "no-store")
	res.WriteHeader(http.StatusOK)
	if err := s.deps.Accounts.Export(c.Request().Context(), userOf(c), res); err != nil {
		// Headers are gone; the truncated body tells the client something broke.
		s.log.ErrorContext(c.Request().Context(), "export user data", "err", err, "request_id", requestID(c))
	}
	return nil
}

func (s *Server) deleteMe(c echo.Context) error {
	u := userOf(c)
	if err := s.deps.Accounts.Delete(c.Request().Context(), u); err != nil {
		return err
	}
	s.clearSessionCookies(c)
	return data(c, http.StatusOK, map[string]any{"id": u.ID, "deleted": true, "mode": s.deps.Accounts.Deletion})
}

func (s *Server) getPreferences(c echo.Context) error {
	doc, err := s.deps.Accounts.Preferences(c.Request().Context(), userOf(c))
	if err != nil {
		return err
	}
	return s.writeDoc(c, doc)
}

func (s *Server) patchPreferences(c echo.Context) error {
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	doc, err := s.deps.Accounts.UpdatePreferences(c.Request().Context(), userOf(c), body)
	if err != nil {
		return err
	}
	return s.writeDoc(c, doc)
}

func (s *Server) writeDoc(c echo.Context, doc any) error {
	dt, ok := s.deps.Registry.Of(doc)
	if !ok {
		return errors.New("web: document of an unregistered type")
	}
	return docJSON(c, http.StatusOK, dt, doc, nil)
}
