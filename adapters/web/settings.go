package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/core/settings"
)

// settingsCacheControl lets clients keep settings five minutes.
const settingsCacheControl = "max-age=300"

// settingsHandler serves the tenant's System Settings.
type settingsHandler struct {
	settings *settings.Service
	// maxBody caps JSON request bodies ([app] max_body_bytes).
	maxBody int64
	// vary is the Vary of the answers (see Server.vary).
	vary string
}

// bindSettings registers GET /settings (anyone, cacheable) and PATCH
// /settings (signed in; the service checks who may write).
func bindSettings(api *echo.Group, svc *settings.Service, maxBody int64, vary string, docs *routeDocs) {
	if svc == nil {
		return
	}
	h := settingsHandler{settings: svc, maxBody: maxBody, vary: vary}
	etag := map[string]*openapi.Header{"ETag": {Ref: "#/components/headers/" + openapi.ETagHeader}}
	settingsDoc := &openapi.Response{Description: "the System Settings", Headers: etag, Content: openapi.JSON(dataOf(anyObject("the System Settings the caller may see")))}
	docs.add(api.GET("/settings", h.get), route{tag: "Settings", summary: "System Settings (the public part to anonymous callers)", access: optional,
		params: []*openapi.Parameter{openapi.ParamRef(openapi.ParamIfNone)},
		responses: replies(status{"200", settingsDoc},
			status{"304", &openapi.Response{Description: "not modified", Headers: etag}})})
	docs.add(api.PATCH("/settings", h.patch, RequireUser), route{tag: "Settings", summary: "Change System Settings (admins)",
		params: []*openapi.Parameter{openapi.ParamRef(openapi.ParamIfMatch)},
		body:   jsonBody(anyObject("the settings to change")), responses: replies(status{"200", settingsDoc})})
}

func (sh settingsHandler) write(c echo.Context, body []byte, etag string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, settingsCacheControl)
	h.Set("ETag", etag)
	// Settings differ per tenant, and the tenant comes from these headers.
	h.Add(echo.HeaderVary, sh.vary)
	return c.JSONBlob(http.StatusOK, wrapData(body))
}

func (h settingsHandler) get(c echo.Context) error {
	snap, err := h.settings.Get(c.Request().Context())
	if err != nil {
		return err
	}
	if etagMatch(c.Request().Header.Get("If-None-Match"), snap.ETag) {
		rh := c.Response().Header()
		rh.Set("ETag", snap.ETag)
		rh.Set(echo.HeaderCacheControl, settingsCacheControl)
		return c.NoContent(http.StatusNotModified)
	}
	return h.write(c, snap.JSON, snap.ETag)
}

func (h settingsHandler) patch(c echo.Context) error {
	ifMatch, err := parseIfMatch(c.Request().Header.Get("If-Match"))
	if err != nil {
		return err
	}
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	snap, err := h.settings.Update(c.Request().Context(), body, ifMatch)
	if err != nil {
		return err
	}
	return h.write(c, snap.JSON, snap.ETag)
}

// etagMatch implements If-None-Match's weak comparison.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
