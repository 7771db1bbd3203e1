package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/quietlog"
	"github.com/framework-m/framework-m/ports"
)

// ErrorBody is the one JSON shape of every error response:
//
//	{"error": {"code": "validation_error", "message": "…", "fields": {"amount": "must be …"}}, "request_id": "…"}
type ErrorBody struct {
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id"`
}

// ErrorDetail describes an error.
type ErrorDetail struct {
	// Code is a stable machine-readable code (not_found, validation_error …).
	Code string `json:"code"`
	// Message is safe to show to a user.
	Message string `json:"message"`
	// Fields maps each invalid field to what is wrong with it.
	Fields map[string]string `json:"fields,omitempty"`
	// Current is the current document, on a version conflict.
	Current json.RawMessage `json:"current,omitempty"`
}

// panicError carries a recovered panic and its stack.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

type mapped struct {
	status  int
	code    string
	message string
}

var sentinels = []struct {
	err error
	mapped
}{
	{core.ErrValidation, mapped{http.StatusBadRequest, "validation_error", "invalid input"}},
	{core.ErrUnauthorized, mapped{http.StatusUnauthorized, "unauthorized", "authentication required"}},
	{core.ErrForbidden, mapped{http.StatusForbidden, "forbidden", "not permitted"}},
	{core.ErrNotFound, mapped{http.StatusNotFound, "not_found", "not found"}},
	{core.ErrNotSupported, mapped{http.StatusMethodNotAllowed, "not_supported", "operation not supported"}},
	{core.ErrConflict, mapped{http.StatusConflict, "conflict", "conflict"}},
	{core.ErrPayloadTooBig, mapped{http.StatusRequestEntityTooLarge, "payload_too_large", "request body too large"}},
	{core.ErrUnsupportedType, mapped{http.StatusUnsupportedMediaType, "unsupported_media_type", "unsupported media type"}},
	{core.ErrTooMany, mapped{http.StatusTooManyRequests, "too_many_requests", "too many requests"}},
	{core.ErrUnavailable, mapped{http.StatusServiceUnavailable, "unavailable", "service unavailable"}},
}

var httpCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "payload_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusTooManyRequests:       "too_many_requests",
	http.StatusServiceUnavailable:    "unavailable",
}

// classify maps err to a status, code and client-safe message.
func classify(err error) (mapped, bool) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		m := mapped{status: he.Code, code: httpCodes[he.Code], message: strings.ToLower(http.StatusText(he.Code))}
		if m.code == "" {
			m.code = strings.ReplaceAll(strings.ToLower(http.StatusText(he.Code)), " ", "_")
		}
		if s, ok := he.Message.(string); ok && s != "" && s != http.StatusText(he.Code) && he.Code < 500 {
			m.message = s
		}
		if he.Code >= 500 {
			return m, false
		}
		return m, true
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			m := s.mapped
			var pe *core.PublicError
			if errors.As(err, &pe) {
				m.message = pe.Msg
			}
			var ce *core.ConflictError
			if errors.As(err, &ce) {
				m.message = ce.Message
			}
			var ns *core.NotSupportedError
			if errors.As(err, &ns) {
				m.message = ns.Message
			}
			var rl *core.RateLimitError
			if errors.As(err, &rl) {
				m.message = rl.Message
			}
			var ue *core.UnavailableError
			if errors.As(err, &ue) {
				m.message = ue.Public()
			}
			return m, true
		}
	}
	return mapped{http.StatusInternalServerError, "internal_error", "internal error"}, false
}

// errorHandler writes every error in the JSON error shape and records the
// unexpected ones.
type errorHandler struct {
	// quiet rate-limits the lines logged about unavailable dependencies.
	quiet quietlog.Limiter

	log *slog.Logger
	// registry marshals the current document of a version conflict.
	registry *doctype.Registry
	// recorder stores unexpected errors as ErrorLog documents; nil only logs them.
	recorder ports.ErrorRecorder
	// debug also prints unexpected errors and their stacks on stderr.
	debug bool
	// metrics counts 403s and failed logins (nil: off).
	metrics *webMetrics
}

// handle is Echo's HTTPErrorHandler: it writes the JSON error shape and
// records unexpected errors as ErrorLog documents.
func (h *errorHandler) handle(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	req := c.Request()
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		c.Response().WriteHeader(499)
		return
	}
	m, known := classify(err)
	h.metrics.errorAnswered(c, m.status)
	rid := requestID(c)
	if rid == "" { // a route outside the framework's middleware
		rid = doctype.NewUUIDv7()
		c.Response().Header().Set(HeaderRequestID, rid)
	}
	body := ErrorBody{RequestID: rid, Error: ErrorDetail{Code: m.code, Message: m.message}}
	var ve *core.ValidationError
	if errors.As(err, &ve) {
		body.Error.Fields = ve.FieldMap()
		if ve.Message != "" {
			body.Error.Message = ve.Message
		} else if len(ve.Fields) == 1 {
			body.Error.Message = ve.Fields[0].Field + ": " + ve.Fields[0].Reason
		}
	}
	var ce *core.ConflictError
	if errors.As(err, &ce) && ce.Current != nil {
		if dt, ok := h.registry.Of(ce.Current); ok {
			body.Error.Current, _ = dt.MarshalDoc(ce.Current, nil)
		}
	}
	if m.status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="framework-m"`)
	}
	var ns *core.NotSupportedError
	if errors.As(err, &ns) && len(ns.Allow) > 0 {
		c.Response().Header().Set(echo.HeaderAllow, strings.Join(ns.Allow, ", "))
	}
	var rl *core.RateLimitError
	if errors.As(err, &rl) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	}
	if m.status == http.StatusServiceUnavailable && c.Response().Header().Get("Retry-After") == "" {
		retry := time.Second
		var ue *core.UnavailableError
		if errors.As(err, &ue) && ue.RetryAfter > 0 {
			retry = ue.RetryAfter
		}
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
		h.unavailable(c, err)
	}
	var rep *core.ReportedError
	switch {
	case !known:
		body.Error.Message = "internal error; quote request id " + rid + " when reporting it"
		h.record(c, err)
	case errors.As(err, &rep):
		h.record(c, err)
	}
	if req.Method == http.MethodHead {
		err = c.NoContent(m.status)
	} else {
		err = c.JSON(m.status, body)
	}
	if err != nil {
		h.log.ErrorContext(req.Context(), "write error response", "err", err, "request_id", rid)
	}
}

// unavailable logs why a dependency made a request answer 503 — at most one
// line per dependency every ten seconds, counting those left out — and
// never stores it: while a dependency is down, every request would.
func (h *errorHandler) unavailable(c echo.Context, err error) {
	var ue *core.UnavailableError
	if !errors.As(err, &ue) {
		return // maintenance mode and the like: the access log has it
	}
	if n, ok := h.quiet.Allow(ue.What, time.Now()); ok {
		h.log.WarnContext(c.Request().Context(), "a dependency is unavailable; answering 503", "dependency", ue.What, "err", ue.Err, "suppressed", n)
	}
}

// record logs an unexpected error and stores it as an ErrorLog.
func (h *errorHandler) record(c echo.Context, err error) {
	req := c.Request()
	ctx := req.Context()
	rec := ports.ErrorRecord{
		Title:      titleOf(err),
		ErrorType:  typeOf(err),
		Message:    err.Error(),
		RequestURL: req.Method + " " + req.URL.RequestURI(),
		RequestID:  requestID(c),
		TraceID:    traceID(c),
		TenantID:   ports.TenantIDFrom(ctx),
		Timestamp:  doctype.Now(),
		Context:    map[string]any{"remote_addr": c.RealIP(), "user_agent": req.UserAgent(), "route": c.Path()},
	}
	if u := ports.UserFrom(ctx); u != nil {
		rec.UserID = u.ID
	}
	var pe *panicError
	if errors.As(err, &pe) {
		rec.Traceback = string(pe.stack)
	} else {
		rec.Traceback = chain(err)
	}
	attrs := []any{"err", err.Error(), "type", rec.ErrorType, "request_id", rec.RequestID, "url", rec.RequestURL, "user", rec.UserID}
	if h.debug {
		fmt.Fprintf(os.Stderr, "unexpected error (request %s): %v\n%s\n", rec.RequestID, err, rec.Traceback)
	}
	h.log.ErrorContext(ctx, "unexpected error", attrs...)
	if h.recorder != nil {
		if rerr := h.recorder.Record(ctx, rec); rerr != nil {
			h.log.ErrorContext(ctx, "could not record error log", "err", rerr, "request_id", rec.RequestID)
		}
	}
}

func titleOf(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// typeOf names the innermost error's type (the cause).
func typeOf(err error) string {
	var pe *panicError
	if errors.As(err, &pe) {
		return fmt.Sprintf("panic(%T)", pe.value)
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}

// chain lists the wrapped errors from outermost to cause.
func chain(err error) string {
	var b strings.Builder
	for i := 0; err != nil; i++ {
		fmt.Fprintf(&b, "%s%T: %v\n", strings.Repeat("  ", i), err, err)
		err = errors.Unwrap(err)
	}
	return b.String()
}
