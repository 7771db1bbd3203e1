package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
)

var errNotJSON = echo.NewHTTPError(http.StatusUnsupportedMediaType, "request body must be sent as Content-Type: application/json")

// readJSON reads a JSON request body of at most limit bytes ([app]
// max_body_bytes). A body declared as anything but JSON is refused (415):
// HTML forms cannot forge it. Handlers call it explicitly; nothing else reads
// or limits request bodies, so streaming routes simply do not call it.
func readJSON(c echo.Context, limit int64) ([]byte, error) {
	req := c.Request()
	ct := req.Header.Get(echo.HeaderContentType)
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return nil, errNotJSON
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, limit))
	if err == nil && ct == "" && len(body) > 0 {
		// A body without a type is what fetch() sends cross-site without a CORS
		// preflight: refuse it like a form.
		return nil, errNotJSON
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, core.Publicf(core.ErrPayloadTooBig, "request body exceeds %d bytes", mbe.Limit)
		}
		return nil, core.Public(core.ErrValidation, "could not read request body")
	}
	return body, nil
}

// decodeStrict decodes a small fixed-shape JSON body, refusing unknown keys.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// data writes {"data": v}.
func data(c echo.Context, status int, v any) error {
	return c.JSON(status, map[string]any{"data": v})
}

// docJSON writes {"data": doc} with the document's version as ETag.
func docJSON(c echo.Context, status int, dt *doctype.DocType, doc any, fields []string) error {
	raw, err := dt.MarshalDoc(doc, fields)
	if err != nil {
		return err
	}
	if b, err := doctype.BaseOf(doc); err == nil {
		c.Response().Header().Set("ETag", `"`+strconv.FormatInt(b.Version, 10)+`"`)
	}
	return c.JSONBlob(status, wrapData(raw))
}

// wrapData wraps encoded JSON in {"data": …}.
func wrapData(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+10)
	out = append(out, `{"data":`...)
	out = append(out, raw...)
	return append(out, '}')
}
