package web

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// MagicLinkPath is the route of sign-in links under the API prefix: a
// link is MagicLinkPath + "/" + token.
const MagicLinkPath = APIPrefix + "/auth/magic-link"

// magicLinkHandler serves sign-in links: asking for one, and using one.
type magicLinkHandler struct {
	links   *auth.MagicLinks
	cookies sessionCookies
	maxBody int64
}

// magicLinkAccepted is the one answer to every link request under the limits.
var magicLinkAccepted = map[string]any{
	"accepted": true,
	"message":  "If an account has this email, a sign-in link is on its way.",
}

// bindMagicLink registers POST /auth/magic-link (mail a link; always 202)
// and GET /auth/magic-link/{token} (sign in, then redirect), when magic
// links are on. HEAD on a link answers without using it, so link checkers
// do not spend it.
func bindMagicLink(api *echo.Group, links *auth.MagicLinks, cookies sessionCookies, maxBody int64, docs *routeDocs) {
	if links == nil {
		return
	}
	h := magicLinkHandler{links: links, cookies: cookies, maxBody: maxBody}
	g := authGroup(api)
	docs.add(g.POST("/magic-link", h.request), route{tag: "Auth", summary: "Mail a sign-in link", access: public,
		description: "Answers 202 whether or not the email belongs to a user.",
		body:        jsonBody(strictObject(map[string]*openapi.Schema{"email": str(), "redirect": {Type: "string", Description: "where to go after signing in: a path of this app or an allowed URL"}})),
		responses:   replies(reply(http.StatusAccepted, "a link is on its way if the email belongs to a user", dataOf(anyObject(""))))})
	docs.add(g.GET("/magic-link/:token", h.signIn), route{tag: "Auth", summary: "Sign in with a magic link (once)", access: public,
		description: "A browser gets a session cookie and a 303 to the link's redirect; a client sending Accept: application/json gets what POST /auth/login answers and the redirect.",
		params:      []*openapi.Parameter{query("session", "with Accept: application/json, true also starts a browser session", boolean())},
		responses: replies(reply(http.StatusOK, "signed in", schemaOf[magicLinkResponse]()),
			status{"303", &openapi.Response{Description: "signed in: see the redirect in Location"}})})
	docs.add(g.HEAD("/magic-link/:token", h.head), route{tag: "Auth", summary: "A link checker's HEAD: answers without using the link", access: public,
		responses: replies(reply(http.StatusOK, "the link is not used", nil))})
}

func (h magicLinkHandler) request(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var b struct {
		Email    string `json:"email"`
		Redirect string `json:"redirect"`
	}
	if err := decodeStrict(body, &b); err != nil {
		return strictOr(err, core.Invalid("body", `must be {"email": "...", "redirect": "/path"}`))
	}
	err = h.links.Request(c.Request().Context(), auth.MagicLinkRequest{Email: b.Email, Redirect: b.Redirect, IP: c.RealIP()})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return data(c, http.StatusAccepted, magicLinkAccepted)
}

// magicLinkResponse is the JSON answer of a link used by an API client.
type magicLinkResponse struct {
	tokenResponse
	// Redirect is where the link asked to go after signing in.
	Redirect string `json:"redirect"`
}

// signIn uses a link. A browser (anything not asking for JSON only) gets a
// new session cookie and a 303 to the link's redirect; a client sending
// Accept: application/json gets what POST /auth/login answers (a session
// too with ?session=true) and the redirect. Either way the URL with the
// token is kept out of caches and Referer headers.
func (h magicLinkHandler) signIn(c echo.Context) error {
	res := c.Response()
	res.Header().Set(echo.HeaderCacheControl, "no-store")
	res.Header().Set("Referrer-Policy", "no-referrer")
	asJSON := wantsJSON(c.Request())
	session := !asJSON
	if q := c.QueryParam("session"); q != "" && asJSON {
		v, err := strconv.ParseBool(q)
		if err != nil {
			return core.Invalid("session", "must be true or false")
		}
		session = v
	}
	out, err := h.links.SignIn(c.Request().Context(), auth.MagicLinkSignIn{
		Credentials: ports.MagicLinkCredentials{Token: c.Param("token")},
		IP:          c.RealIP(), UserAgent: c.Request().UserAgent(), Session: session,
	})
	if err != nil {
		return err
	}
	return answerSignIn(c, h.cookies, out.LoginResult, out.Redirect, asJSON)
}

// answerSignIn answers a sign-in by link or provider: the session cookie when
// one was started, then the login's JSON (with the redirect) for asJSON,
// else a 303 to the redirect.
func answerSignIn(c echo.Context, cookies sessionCookies, login auth.LoginResult, redirect string, asJSON bool) error {
	body := magicLinkResponse{tokenResponse: tokenResponse{Token: login.Token}, Redirect: redirect}
	if login.Session != nil {
		cookies.set(c, login.Session.Secret, login.Session.CSRFToken, login.Session.Session.ExpiresAt)
		body.CSRFToken = login.Session.CSRFToken
	}
	if asJSON {
		return c.JSON(http.StatusOK, body)
	}
	return c.Redirect(http.StatusSeeOther, redirect)
}

// head answers a link checker's HEAD without using the link.
func (h magicLinkHandler) head(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.NoContent(http.StatusOK)
}

// wantsJSON reports whether the request's Accept asks for JSON and not HTML.
func wantsJSON(r *http.Request) bool {
	json, html := false, false
	for _, part := range strings.Split(r.Header.Get(echo.HeaderAccept), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			json = true
		case mt == "text/html" || mt == "application/xhtml+xml":
			html = true
		}
	}
	return json && !html
}
