package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/openapi"
)

// accountHandler serves the signed-in user's own account: the export of
// their data, erasure, and their preferences.
type accountHandler struct {
	accounts *auth.Accounts
	// registry marshals the preferences document.
	registry *doctype.Registry
	cookies  sessionCookies
	log      *slog.Logger
	// maxBody caps JSON request bodies ([app] max_body_bytes).
	maxBody int64
}

// bindAccount registers /auth/me/data, DELETE /auth/me and
// /auth/me/preferences.
func bindAccount(api *echo.Group, accounts *auth.Accounts, registry *doctype.Registry, cookies sessionCookies, log *slog.Logger, maxBody int64, docs *routeDocs) {
	if accounts == nil {
		return
	}
	h := accountHandler{accounts: accounts, registry: registry, cookies: cookies, log: log, maxBody: maxBody}
	g := authGroup(api)
	docs.add(g.GET("/me/data", h.export, RequireUser, unscoped), route{tag: "Account", summary: "Export the caller's data (a JSON download)",
		responses: replies(reply(http.StatusOK, "everything stored about the caller", anyObject("the caller's data")))})
	docs.add(g.DELETE("/me", h.delete, RequireUser, unscoped), route{tag: "Account", summary: "Delete the caller's account ([auth.deletion] mode)",
		responses: replies(reply(http.StatusOK, "deleted or anonymized", dataOf(obj(map[string]*openapi.Schema{"id": str(), "deleted": boolean(), "mode": str()}))))})
	prefs := replies(status{code: "200", res: &openapi.Response{Description: "the caller's preferences",
		Headers: map[string]*openapi.Header{"ETag": {Ref: "#/components/headers/" + openapi.ETagHeader}},
		Content: openapi.JSON(dataOf(anyObject("a User Preferences document")))}})
	docs.add(g.GET("/me/preferences", h.getPreferences, RequireUser), route{tag: "Account", summary: "The caller's preferences", responses: prefs})
	docs.add(g.PATCH("/me/preferences", h.patchPreferences, RequireUser), route{tag: "Account", summary: "Change the caller's preferences",
		body: jsonBody(anyObject("the fields to change")), responses: prefs})
}

// export streams the user's data as a JSON download.
func (h accountHandler) export(c echo.Context) error {
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="my-data.json"`)
	res.Header().Set(echo.HeaderCacheControl, "no-store")
	res.WriteHeader(http.StatusOK)
	if err := h.accounts.Export(c.Request().Context(), userOf(c), res); err != nil {
		// Headers are gone; the truncated body tells the client something broke.
		h.log.ErrorContext(c.Request().Context(), "export user data", "err", err, "request_id", requestID(c))
	}
	return nil
}

func (h accountHandler) delete(c echo.Context) error {
	u := userOf(c)
	if err := h.accounts.Delete(c.Request().Context(), u); err != nil {
		return err
	}
	h.cookies.clear(c)
	return data(c, http.StatusOK, map[string]any{"id": u.ID, "deleted": true, "mode": h.accounts.Deletion})
}

func (h accountHandler) getPreferences(c echo.Context) error {
	doc, err := h.accounts.Preferences(c.Request().Context(), userOf(c))
	if err != nil {
		return err
	}
	return h.writeDoc(c, doc)
}

func (h accountHandler) patchPreferences(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	doc, err := h.accounts.UpdatePreferences(c.Request().Context(), userOf(c), body)
	if err != nil {
		return err
	}
	return h.writeDoc(c, doc)
}

func (h accountHandler) writeDoc(c echo.Context, doc any) error {
	dt, ok := h.registry.Of(doc)
	if !ok {
		return errors.New("web: document of an unregistered type")
	}
	return docJSON(c, http.StatusOK, dt, doc, nil)
}
