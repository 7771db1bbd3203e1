package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// apiKeysHandler serves the signed-in user's API keys.
type apiKeysHandler struct {
	// auth confirms the current password before a key is made.
	auth *auth.Service
	keys *auth.APIKeys
	// maxBody caps JSON request bodies ([app] max_body_bytes).
	maxBody int64
}

// bindAPIKeys registers /auth/api-keys (list, create, revoke one or all) when API keys
// are enabled. Scoped keys cannot use them.
func bindAPIKeys(api *echo.Group, svc *auth.Service, maxBody int64, docs *routeDocs) {
	if svc == nil || svc.APIKeys == nil {
		return
	}
	h := apiKeysHandler{auth: svc, keys: svc.APIKeys, maxBody: maxBody}
	g := authGroup(api)
	docs.add(g.GET("/api-keys", h.list, RequireUser, unscoped), route{tag: "API keys", summary: "The caller's API keys (never their secrets)",
		responses: replies(reply(http.StatusOK, "the keys", dataOf(schemaOf[[]*ports.APIKey]())))})
	docs.add(g.POST("/api-keys", h.create, RequireUser, unscoped), route{tag: "API keys", summary: "Create an API key (its secret is shown this once)",
		body: jsonBody(strictObject(map[string]*openapi.Schema{
			"name": str(), "current_password": str(),
			"scopes":     openapi.Nullable(openapi.Array(str())),
			"expires_at": openapi.Nullable(&openapi.Schema{Type: "string", Format: "date-time"}),
		})),
		responses: replies(reply(http.StatusCreated, "the key and its secret", dataOf(schemaOf[createdKey]())))})
	docs.add(g.DELETE("/api-keys", h.revokeAll, RequireUser, unscoped), route{tag: "API keys", summary: "Revoke every API key of the caller",
		responses: replies(reply(http.StatusOK, "revoked", dataOf(obj(map[string]*openapi.Schema{"revoked": integer()}))))})
	docs.add(g.DELETE("/api-keys/:id", h.revoke, RequireUser, unscoped), route{tag: "API keys", summary: "Revoke one API key",
		responses: replies(reply(http.StatusOK, "revoked", dataOf(obj(map[string]*openapi.Schema{"id": str(), "revoked": boolean()}))))})
}

func (h apiKeysHandler) list(c echo.Context) error {
	keys, err := h.keys.List(c.Request().Context(), userOf(c).ID)
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, keys)
}

// createdKey is a new key's record with its secret, shown this once.
type createdKey struct {
	*ports.APIKey
	Key string `json:"key"`
}

func (h apiKeysHandler) create(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
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
		return strictOr(err, core.Invalid("body", `must be {"name": "...", "current_password": "...", "scopes": ["read"], "expires_at": "2027-01-01T00:00:00Z"}`))
	}
	ctx := c.Request().Context()
	if err := h.auth.Confirm(ctx, userOf(c), b.CurrentPassword); err != nil {
		return err
	}
	key, rec, err := h.keys.Create(ctx, userOf(c).ID, auth.NewKey{Name: b.Name, Scopes: b.Scopes, ExpiresAt: b.ExpiresAt})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return data(c, http.StatusCreated, createdKey{APIKey: rec, Key: key})
}

func (h apiKeysHandler) revoke(c echo.Context) error {
	id := param(c, "id")
	if err := h.keys.Revoke(c.Request().Context(), userOf(c).ID, id); err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"id": id, "revoked": true})
}

// revokeAll deletes every API key of the signed-in user.
func (h apiKeysHandler) revokeAll(c echo.Context) error {
	n, err := h.keys.RevokeAll(c.Request().Context(), userOf(c).ID)
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, map[string]any{"revoked": n})
}
