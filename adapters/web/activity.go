package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/audit"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// maxActivityOffset bounds how deep an activity page may start.
const maxActivityOffset = 1_000_000

// activityHandler serves the audit trail as an activity feed.
type activityHandler struct {
	feed *audit.Feed
}

// bindActivity registers GET /activity and GET /resource/{doctype}/{name}/activity.
func bindActivity(api *echo.Group, feed *audit.Feed, docs *routeDocs) {
	if feed == nil {
		return
	}
	h := activityHandler{feed: feed}
	page := []*openapi.Parameter{
		query("limit", "page size (20 when absent)", &openapi.Schema{Type: "integer", Minimum: new(1.0), Maximum: new(float64(audit.MaxFeedLimit))}),
		query("offset", "entries to skip", &openapi.Schema{Type: "integer", Minimum: new(0.0), Maximum: new(float64(maxActivityOffset))})}
	feed200 := replies(reply(http.StatusOK, "entries, newest first", schemaOf[audit.Page]()))
	docs.add(api.GET("/activity", h.list, RequireUser), route{tag: "Activity", summary: "The activity feed (the audit trail the caller may see)",
		params: append([]*openapi.Parameter{
			query("user_id", "entries of this user", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("doctype", "entries of this DocType", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("document_id", "entries of this document", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("action", "entries of this action (create, update, delete, read …)", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("from", "entries at or after this RFC 3339 time", &openapi.Schema{Type: "string", Format: "date-time"}),
			query("to", "entries before this RFC 3339 time", &openapi.Schema{Type: "string", Format: "date-time"}),
		}, page...),
		responses: feed200})
	docs.add(api.GET("/resource/:doctype/:name/activity", h.document, RequireUser), route{tag: "Activity", summary: "One document's timeline",
		params: page, responses: feed200})
}

// list answers GET /activity?user_id&doctype&document_id&action&from&to&limit&offset:
// {"data": [entries, newest first], "total": N}.
func (h activityHandler) list(c echo.Context) error {
	q := c.QueryParams()
	verr := &core.ValidationError{}
	f := ports.AuditFilter{}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"user_id", &f.UserID}, {"doctype", &f.DocType}, {"document_id", &f.DocumentID}, {"action", &f.Action}} {
		v := q.Get(p.name)
		if len(v) > 140 {
			verr.Add(p.name, "must be at most 140 characters")
			continue
		}
		*p.dst = v
	}
	f.From = timeParam(q, "from", verr)
	f.To = timeParam(q, "to", verr)
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		verr.Add("to", "must be after from")
	}
	limit, offset := pageParams(q, verr)
	if err := verr.Err(); err != nil {
		return err
	}
	page, err := h.feed.List(c.Request().Context(), f, limit, offset)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// document answers GET /resource/{doctype}/{name}/activity: one document's
// timeline, newest first.
func (h activityHandler) document(c echo.Context) error {
	verr := &core.ValidationError{}
	limit, offset := pageParams(c.QueryParams(), verr)
	if err := verr.Err(); err != nil {
		return err
	}
	page, err := h.feed.Document(c.Request().Context(), param(c, "doctype"), param(c, "name"), limit, offset)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// timeParam reads an RFC 3339 time (zero when absent).
func timeParam(q url.Values, name string, verr *core.ValidationError) time.Time {
	v := q.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || len(v) > 64 {
		verr.Add(name, "must be an RFC 3339 time such as 2026-01-31T09:00:00Z")
		return time.Time{}
	}
	return t
}

// pageParams reads limit (1…audit.MaxFeedLimit, default 20) and offset.
func pageParams(q url.Values, verr *core.ValidationError) (limit, offset int) {
	limit = 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxFeedLimit {
			verr.Add("limit", fmt.Sprintf("must be an integer between 1 and %d", audit.MaxFeedLimit))
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxActivityOffset {
			verr.Add("offset", fmt.Sprintf("must be an integer between 0 and %d", maxActivityOffset))
		}
		offset = n
	}
	return limit, offset
}
