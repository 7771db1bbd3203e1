package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// settingsCacheControl lets clients keep settings five minutes.
const settingsCacheControl = "max-age=300"

func (s *Server) writeSettings(c echo.Context, body []byte, etag string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, settingsCacheControl)
	h.Set("ETag", etag)
	// Settings differ per tenant, and the tenant comes from these headers.
	h.Add(echo.HeaderVary, "Authorization, Cookie, X-Tenant-ID")
	return c.JSONBlob(http.StatusOK, wrapData(body))
}

func (s *Server) getSettings(c echo.Context) error {
	snap, err := s.deps.Settings.Get(c.Request().Context())
	if err != nil {
		return err
	}
	if etagMatch(c.Request().Header.Get("If-None-Match"), snap.ETag) {
		h := c.Response().Header()
		h.Set("ETag", snap.ETag)
		h.Set(echo.HeaderCacheControl, settingsCacheControl)
		return c.NoContent(http.StatusNotModified)
	}
	return s.writeSettings(c, snap.JSON, snap.ETag)
}

func (s *Server) patchSettings(c echo.Context) error {
	ifMatch, err := parseIfMatch(c.Request().Header.Get("If-Match"))
	if err != nil {
		return err
	}
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	snap, err := s.deps.Settings.Update(c.Request().Context(), body, ifMatch)
	if err != nil {
		return err
	}
	return s.writeSettings(c, snap.JSON, snap.ETag)
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
