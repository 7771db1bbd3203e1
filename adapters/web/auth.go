package web

import (
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// authHandler serves logging in and out, password changes, the principal
// (GET /auth/me) and the token signing keys.
type authHandler struct {
	auth    *auth.Service
	cookies sessionCookies
	// maxBody caps JSON request bodies ([app] max_body_bytes).
	maxBody int64
}

// authGroup is the /auth group the account features share.
func authGroup(api *echo.Group) *echo.Group { return api.Group("/auth") }

// bindAuth registers the login routes the auth mode has (the others answer
// 404), /auth/me, /auth/logout and, when tokens are signed with a published
// key, /.well-known/jwks.json outside the API group.
func bindAuth(e *echo.Echo, base []echo.MiddlewareFunc, api *echo.Group, svc *auth.Service, cookies sessionCookies, maxBody int64, docs *routeDocs) {
	if svc == nil {
		return
	}
	h := authHandler{auth: svc, cookies: cookies, maxBody: maxBody}
	if svc.Tokens != nil {
		docs.add(e.GET("/.well-known/jwks.json", h.jwks, base...), route{tag: "Auth", summary: "The public keys that verify access tokens (JWKS)", access: public,
			responses: replies(replyAs(http.StatusOK, "a JSON Web Key Set", "application/jwk-set+json", anyObject("a JWK set: {\"keys\": […]}")))})
	}
	g := authGroup(api)
	docs.add(g.GET("/me", h.me, RequireUser), route{tag: "Auth", summary: "The caller: id, email, roles, attributes",
		responses: replies(reply(http.StatusOK, "the principal", dataOf(schemaOf[ports.UserContext]())))})
	docs.add(g.POST("/logout", h.logout, RequireUser), route{tag: "Auth", summary: "Log out: end the session and revoke the access token",
		responses: replies(reply(http.StatusOK, "logged out", dataOf(obj(map[string]*openapi.Schema{
			"logged_out": boolean(), "session_ended": boolean(), "token_revoked": boolean()}))))})
	if svc.Users.Mode().HasPasswords() {
		docs.add(g.POST("/login", h.login), route{tag: "Auth", summary: "Log in with email and password", access: public,
			description: "Answers an access token; with session=true (body or query) also a browser session cookie and its CSRF token.",
			params:      []*openapi.Parameter{query("session", "true: also start a browser session (cookie)", boolean())},
			body: &openapi.RequestBody{Required: true, Content: map[string]*openapi.MediaType{
				"application/json":                  {Schema: inputOf[loginBody]()},
				"application/x-www-form-urlencoded": {},
				"multipart/form-data":               {},
			}},
			responses: replies(reply(http.StatusOK, "signed in", schemaOf[tokenResponse]()))})
		docs.add(g.POST("/password", h.changePassword, RequireUser, unscoped), route{tag: "Auth", summary: "Change the caller's password (ends every session)",
			body:      jsonBody(strictObject(map[string]*openapi.Schema{"current_password": str(), "new_password": {Type: "string", MinLength: new(1)}}, "new_password")),
			responses: replies(reply(http.StatusOK, "changed", dataOf(obj(map[string]*openapi.Schema{"password_changed": boolean(), "sessions_ended": boolean()}))))})
	}
}

func (h authHandler) jwks(c echo.Context) error {
	set, ok := h.auth.Tokens.JWKS()
	if !ok {
		return echo.ErrNotFound
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "max-age=300")
	return c.Blob(http.StatusOK, "application/jwk-set+json", set)
}

func (h authHandler) me(c echo.Context) error { return data(c, http.StatusOK, userOf(c)) }

type loginBody struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Session  bool   `json:"session"`
}

// readLogin reads a JSON or form login. A form post must come from this
// origin (no login CSRF); a JSON post cannot be forged by a form.
func (h authHandler) readLogin(c echo.Context) (loginBody, error) {
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
		body, err := readJSON(c, h.maxBody)
		if err != nil {
			return b, err
		}
		if err := decodeStrict(body, &b); err != nil {
			return b, strictOr(err, core.Invalid("body", `must be {"username": "...", "password": "...", "session": false}`))
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
	// PasswordChangeRequired says the password was a temporary one: the
	// token works only to change it (POST /auth/password), read /auth/me and
	// log out.
	PasswordChangeRequired bool `json:"password_change_required,omitempty"`
}

func (h authHandler) login(c echo.Context) error {
	b, err := h.readLogin(c)
	if err != nil {
		return err
	}
	res, err := h.auth.Login(c.Request().Context(), auth.LoginRequest{
		Email: b.Username, Password: b.Password, IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Session: b.Session,
	})
	if err != nil {
		return err
	}
	out := tokenResponse{Token: res.Token, PasswordChangeRequired: res.User.PasswordChangeRequired}
	if res.Session != nil {
		h.cookies.set(c, res.Session.Secret, res.Session.CSRFToken, res.Session.Session.ExpiresAt)
		out.CSRFToken = res.Session.CSRFToken
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, out)
}

func (h authHandler) logout(c echo.Context) error {
	u := userOf(c)
	if err := h.auth.Logout(c.Request().Context(), u); err != nil {
		return err
	}
	h.cookies.clear(c)
	return data(c, http.StatusOK, map[string]any{"logged_out": true, "session_ended": u.SessionID != "", "token_revoked": u.TokenID != ""})
}

func (h authHandler) changePassword(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var b struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeStrict(body, &b); err != nil || b.New == "" {
		return strictOr(err, core.Invalid("new_password", `send {"current_password": "...", "new_password": "..."}`))
	}
	u := userOf(c)
	if err := h.auth.Users.ChangePassword(c.Request().Context(), u.ID, b.Current, b.New); err != nil {
		return err
	}
	h.cookies.clear(c)
	return data(c, http.StatusOK, map[string]any{"password_changed": true, "sessions_ended": true})
}
