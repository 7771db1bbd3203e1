package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/jsonstrict"
)

var errNotJSON = echo.NewHTTPError(http.StatusUnsupportedMediaType, "request body must be sent as Content-Type: application/json")

// readJSON reads a JSON request body of at most limit bytes ([app]
// max_body_bytes). A body declared as anything but JSON is refused (415):
// HTML forms cannot forge it. Handlers call it explicitly; nothing else reads
// or limits request bodies, so streaming routes simply do not call it.
//
// Every body it returns has passed jsonstrict.Check: an object naming a key
// twice at any depth, or a string that is not valid UTF-8, is a 400 naming
// the field before any handler sees it, so no route can act on a body that
// another reader (a gateway, a log, a signature check) would see otherwise.
// Malformed JSON is left to the handler's decoder, which says what it wanted.
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
	if len(bytes.TrimSpace(body)) > 0 {
		if verr := strictError(jsonstrict.Check(body, jsonstrict.Exact)); verr != nil {
			return nil, verr
		}
	}
	return body, nil
}

// decodeStrict decodes a small fixed-shape JSON body into v with
// jsonstrict.Unmarshal: unknown keys and trailing data are refused, and so
// are keys named twice, compared ignoring case as encoding/json matches
// struct fields ({"username":"a","Username":"b"}), and invalid UTF-8. Those
// last two are a *core.ValidationError naming the field (see strictOr).
func decodeStrict(body []byte, v any) error {
	return jsonstrict.Unmarshal(body, v)
}

// strictError returns err when it is the strict reader's verdict on a body
// (a *core.ValidationError naming the field), else nil.
func strictError(err error) *core.ValidationError {
	var verr *core.ValidationError
	if errors.As(err, &verr) {
		return verr
	}
	return nil
}

// strictOr returns decodeStrict's error itself when it names a field, else
// fallback, the handler's own description of the body it wants.
func strictOr(err, fallback error) error {
	if verr := strictError(err); verr != nil {
		return verr
	}
	return fallback
}

// decodeFields decodes a JSON body strictly into v like decodeStrict, and
// names the field of every problem it can: a value of the wrong type, an
// unknown key, a time that is not RFC 3339. shape describes the body
// wanted, for the problems that name no field.
func decodeFields(body []byte, v any, shape string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return core.Invalid("body", "is required: "+shape)
	}
	err := decodeStrict(body, v)
	if err == nil {
		return nil
	}
	if verr := strictError(err); verr != nil {
		return verr
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return core.Invalidf(jsonPath(te.Field), "must be %s", jsonKind(te.Type))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return core.Invalid(strings.Trim(name, `"`), "unknown field")
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return core.Invalid(badTimeField(body), "must be an RFC 3339 time, such as 2026-03-01T10:00:00Z")
	}
	return core.Invalid("body", "must be "+shape)
}

// jsonPath is encoding/json's path of a field (JSON names, and Go names
// of embedded structs) with the Go names left out: "to.0.address".
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && p[0] >= 'A' && p[0] <= 'Z' {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

// badTimeField names the top-level key of body holding a string that is
// not a time ("body" when there is none).
func badTimeField(body []byte) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return "body"
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		var s string
		if json.Unmarshal(raw[k], &s) != nil {
			continue
		}
		var t time.Time
		if json.Unmarshal(raw[k], &t) != nil {
			return k
		}
	}
	return "body"
}

// jsonKind names a JSON value of Go type t for messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
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
	if etag, ok := docETag(doc); ok {
		c.Response().Header().Set("ETag", etag)
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
