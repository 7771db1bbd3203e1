package web

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// param returns a path parameter, unescaped.
func param(c echo.Context, name string) string {
	v := c.Param(name)
	if c.Request().URL.RawPath != "" {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
	}
	return v
}

// userOf returns the request's principal (nil: anonymous).
func userOf(c echo.Context) *ports.UserContext { return ports.UserFrom(c.Request().Context()) }

// parseIfMatch reads a version from If-Match: "3" (or 3). Absent, or "*"
// (any current version), it is nil: the write applies to the current version.
func parseIfMatch(h string) (*int64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return nil, nil
	}
	// If-Match compares strongly: a weak tag never matches.
	n, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || n < 1 || strings.HasPrefix(h, "W/") {
		return nil, core.Invalid("If-Match", "must be the document version, such as \"3\"")
	}
	return &n, nil
}

// docETag is the ETag of a document: its version, quoted, as docJSON sends
// it and If-Match expects it.
func docETag(doc any) (string, bool) {
	b, err := doctype.BaseOf(doc)
	if err != nil {
		return "", false
	}
	return `"` + strconv.FormatInt(b.Version, 10) + `"`, true
}
