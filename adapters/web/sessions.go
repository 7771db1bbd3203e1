package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// sessionsHandler serves the signed-in user's sessions.
type sessionsHandler struct {
	sessions *auth.Sessions
	// users logs a user out everywhere.
	users   *auth.UserManager
	cookies sessionCookies
}

// bindSessions registers /auth/sessions (list, revoke one, revoke all) when
// sessions are enabled. Scoped keys cannot use them.
func bindSessions(api *echo.Group, svc *auth.Service, cookies sessionCookies, docs *routeDocs) {
	if svc == nil || svc.Sessions == nil {
		return
	}
	h := sessionsHandler{sessions: svc.Sessions, users: svc.Users, cookies: cookies}
	g := authGroup(api)
	docs.add(g.GET("/sessions", h.list, RequireUser, unscoped), route{tag: "Sessions", summary: "The caller's browser sessions",
		responses: replies(reply(http.StatusOK, "the sessions", dataOf(openapi.Array(schemaOf[sessionView]()))))})
	docs.add(g.DELETE("/sessions", h.revokeAll, RequireUser, unscoped), route{tag: "Sessions", summary: "Log out everywhere: end every session, stop every token issued so far",
		responses: replies(reply(http.StatusOK, "logged out everywhere", dataOf(obj(map[string]*openapi.Schema{"logged_out_everywhere": boolean()}))))})
	docs.add(g.DELETE("/sessions/:id", h.revoke, RequireUser, unscoped), route{tag: "Sessions", summary: "End one session",
		responses: replies(reply(http.StatusOK, "ended", dataOf(obj(map[string]*openapi.Schema{"id": str(), "revoked": boolean()}))))})
}

// sessionView is a session, marked when it is the one making the request.
type sessionView struct {
	*ports.Session
	Current bool `json:"current"`
}

func (h sessionsHandler) list(c echo.Context) error {
	u := userOf(c)
	list, err := h.sessions.List(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]sessionView, len(list))
	for i, sess := range list {
		out[i] = sessionView{Session: sess, Current: sess.ID == u.SessionID}
	}
	return data(c, http.StatusOK, out)
}

func (h sessionsHandler) revoke(c echo.Context) error {
	u := userOf(c)
	id := param(c, "id")
	if err := h.sessions.Revoke(c.Request().Context(), u.ID, id); err != nil {
		return err
	}
	if id == u.SessionID {
		h.cookies.clear(c)
	}
	return data(c, http.StatusOK, map[string]any{"id": id, "revoked": true})
}

// revokeAll logs out everywhere: every session ends and every token issued
// so far stops working.
func (h sessionsHandler) revokeAll(c echo.Context) error {
	u := userOf(c)
	if err := h.users.LogoutEverywhere(c.Request().Context(), u.ID); err != nil {
		return err
	}
	h.cookies.clear(c)
	return data(c, http.StatusOK, map[string]any{"logged_out_everywhere": true})
}
