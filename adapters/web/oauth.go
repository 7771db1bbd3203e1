package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/openapi"
)

// OAuthPath is the route of sign-in with providers under the API prefix:
// OAuthPath + "/{provider}/start", "/callback", "/link".
const OAuthPath = APIPrefix + "/auth/oauth"

// OAuthStateCookie holds a started flow's signed state (HttpOnly,
// SameSite=Lax, scoped to OAuthPath, short-lived).
const OAuthStateCookie = "fm_oauth_state"

// oauthHandler serves sign-in with OAuth2/OIDC providers.
type oauthHandler struct {
	oauth   *auth.OAuth
	cookies sessionCookies
	maxBody int64
}

// bindOAuth registers, when OAuth sign-in is on:
// GET /auth/oauth/{provider}/start?redirect= (to the provider),
// GET /auth/oauth/{provider}/callback (signed in, or linked),
// GET /auth/oauth/accounts (the user's linked providers),
// POST /auth/oauth/{provider}/link (start linking; signed-in user) and
// DELETE /auth/oauth/{provider}/link (unlink).
func bindOAuth(api *echo.Group, o *auth.OAuth, cookies sessionCookies, maxBody int64, docs *routeDocs) {
	if o == nil {
		return
	}
	h := oauthHandler{oauth: o, cookies: cookies, maxBody: maxBody}
	g := authGroup(api).Group("/oauth")
	const tag = "OAuth"
	redirect := query("redirect", "where to go after signing in: a path of this app or an allowed URL", str())
	docs.add(g.GET("/accounts", h.accounts, RequireUser), route{tag: tag, summary: "The caller's linked social accounts",
		responses: replies(reply(http.StatusOK, "the accounts", dataOf(openapi.Array(schemaOf[socialAccountView]()))))})
	docs.add(g.GET("/:provider/start", h.start), route{tag: tag, summary: "Sign in with a provider: redirects to it", access: public,
		params:    []*openapi.Parameter{redirect},
		responses: replies(status{"302", &openapi.Response{Description: "to the provider's authorization URL (a state cookie is set)"}})})
	docs.add(g.GET("/:provider/callback", h.callback), route{tag: tag, summary: "The provider sends the browser back here", access: optional,
		description: "A browser gets a session cookie and a 303 to the redirect; a client sending Accept: application/json gets what POST /auth/login answers and the redirect.",
		params: []*openapi.Parameter{query("state", "", str()), query("code", "", str()), query("error", "", str()), query("error_description", "", str()),
			query("session", "with Accept: application/json, true also starts a browser session", boolean())},
		responses: replies(reply(http.StatusOK, "signed in, or linked ({\"data\": {\"linked\": true, …}})",
			&openapi.Schema{AnyOf: []*openapi.Schema{schemaOf[magicLinkResponse](), dataOf(anyObject("the link: linked, provider, redirect"))}}),
			status{"303", &openapi.Response{Description: "signed in or linked: see the redirect in Location"}})})
	docs.add(g.POST("/:provider/link", h.link, RequireUser, unscoped), route{tag: tag, summary: "Start linking a provider to the caller",
		params: []*openapi.Parameter{redirect},
		body:   &openapi.RequestBody{Content: openapi.JSON(strictObject(map[string]*openapi.Schema{"redirect": str()}))},
		responses: replies(reply(http.StatusOK, "the provider URL to send the browser to",
			dataOf(obj(map[string]*openapi.Schema{"authorization_url": str()}))))})
	docs.add(g.DELETE("/:provider/link", h.unlink, RequireUser, unscoped), route{tag: tag, summary: "Unlink a provider from the caller",
		responses: replies(reply(http.StatusOK, "unlinked", dataOf(obj(map[string]*openapi.Schema{"unlinked": boolean(), "provider": str()}))))})
}

func (h oauthHandler) stateCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: OAuthStateCookie, Value: value, Path: OAuthPath + "/", MaxAge: maxAge,
		Secure: h.cookies.cfg.CookieSecure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

func (h oauthHandler) begin(c echo.Context, req auth.OAuthStart) (*auth.OAuthStarted, error) {
	out, err := h.oauth.Start(c.Request().Context(), req)
	if err != nil {
		return nil, err
	}
	ck := h.stateCookie(out.Cookie, int(h.oauth.StateTTL()/time.Second))
	ck.Expires = time.Now().Add(h.oauth.StateTTL())
	c.SetCookie(ck)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return out, nil
}

func (h oauthHandler) start(c echo.Context) error {
	out, err := h.begin(c, auth.OAuthStart{Provider: c.Param("provider"), Redirect: c.QueryParam("redirect")})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, out.URL)
}

// callback finishes a flow. A browser gets a new session cookie and a 303
// to the redirect; a client sending Accept: application/json gets what
// POST /auth/login answers (a session too with ?session=true) and the
// redirect. A link flow answers {"linked": true} or redirects.
func (h oauthHandler) callback(c echo.Context) error {
	res := c.Response()
	res.Header().Set(echo.HeaderCacheControl, "no-store")
	res.Header().Set("Referrer-Policy", "no-referrer")
	var cookie string
	if ck, err := c.Cookie(OAuthStateCookie); err == nil {
		cookie = ck.Value
	}
	// The state works once: forget it whatever happens.
	c.SetCookie(h.stateCookie("", -1))
	asJSON := wantsJSON(c.Request())
	session := !asJSON
	if q := c.QueryParam("session"); q != "" && asJSON {
		v, err := strconv.ParseBool(q)
		if err != nil {
			return core.Invalid("session", "must be true or false")
		}
		session = v
	}
	q := c.QueryParams()
	out, err := h.oauth.Callback(c.Request().Context(), auth.OAuthCallback{
		Provider: c.Param("provider"), State: q.Get("state"), Code: q.Get("code"),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description"),
		Cookie: cookie, IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Session: session,
	})
	if err != nil {
		return err
	}
	if out.Linked {
		if asJSON {
			return data(c, http.StatusOK, map[string]any{"linked": true, "provider": c.Param("provider"), "redirect": out.Redirect})
		}
		return c.Redirect(http.StatusSeeOther, out.Redirect)
	}
	return answerSignIn(c, h.cookies, out.LoginResult, out.Redirect, asJSON)
}

// link starts linking the provider to the signed-in user: it answers the
// provider's URL to send the browser to ({"authorization_url"}), with the
// state cookie.
func (h oauthHandler) link(c echo.Context) error {
	var b struct {
		Redirect string `json:"redirect"`
	}
	if c.Request().ContentLength != 0 {
		body, err := readJSON(c, h.maxBody)
		if err != nil {
			return err
		}
		if len(body) > 0 {
			if err := decodeStrict(body, &b); err != nil {
				return strictOr(err, core.Invalid("body", `must be {"redirect": "/path"} or empty`))
			}
		}
	}
	if r := c.QueryParam("redirect"); r != "" && b.Redirect == "" {
		b.Redirect = r
	}
	out, err := h.begin(c, auth.OAuthStart{Provider: c.Param("provider"), Redirect: b.Redirect, LinkUser: userOf(c).ID})
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"authorization_url": out.URL})
}

func (h oauthHandler) unlink(c echo.Context) error {
	if err := h.oauth.Unlink(c.Request().Context(), userOf(c).ID, c.Param("provider")); err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"unlinked": true, "provider": c.Param("provider")})
}

// socialAccountView is a linked account as the user sees it.
type socialAccountView struct {
	Provider    string `json:"provider"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
}

func (h oauthHandler) accounts(c echo.Context) error {
	accts, err := h.oauth.Accounts(c.Request().Context(), userOf(c).ID)
	if err != nil {
		return err
	}
	out := make([]socialAccountView, 0, len(accts))
	for _, a := range accts {
		out = append(out, socialAccountView{Provider: a.Provider, Email: a.Email, DisplayName: a.DisplayName})
	}
	return data(c, http.StatusOK, out)
}
