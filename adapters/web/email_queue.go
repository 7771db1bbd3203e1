package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// emailQueueHandler serves the email queue's admin API; email.Service
// holds the rules (who may, which status may change).
type emailQueueHandler struct {
	email   *email.Service
	maxBody int64
}

// bindEmailQueue registers the email queue's admin API, for admins and
// System Managers:
//
//	POST /email-queue               an email (email.Request) → 201, Queued
//	GET  /email-queue?status=S&reference_doctype=D&reference_id=N&limit=20&offset=0
//	GET  /email-queue/{id}
//	POST /email-queue/{id}/retry    Failed or Cancelled → Queued (else 409)
//	POST /email-queue/{id}/cancel   Queued → Cancelled (else 409)
func bindEmailQueue(api *echo.Group, svc *email.Service, maxBody int64, docs *routeDocs) {
	if svc == nil {
		return
	}
	h := emailQueueHandler{email: svc, maxBody: maxBody}
	admit := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := svc.Admit(c.Request().Context()); err != nil {
				return err
			}
			return next(c)
		}
	}
	const tag = "Email queue"
	queued := dataOf(schemaOf[ports.QueuedEmail]())
	docs.add(api.POST("/email-queue", h.create, RequireUser, admit), route{tag: tag, summary: "Queue an email (admins)",
		body: jsonBody(inputOf[email.Request]()), responses: replies(reply(http.StatusCreated, "queued; Location names it", queued))})
	docs.add(api.GET("/email-queue", h.list, RequireUser, admit), route{tag: tag, summary: "List queued and sent emails (admins)",
		params: []*openapi.Parameter{query("status", "Queued, Sending, Sent, Failed or Cancelled", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("reference_doctype", "emails about documents of this DocType", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("reference_id", "emails about this document", &openapi.Schema{Type: "string", MaxLength: new(140)}),
			query("limit", "page size (20 when absent)", &openapi.Schema{Type: "integer", Minimum: new(1.0), Maximum: new(1000.0)}),
			query("offset", "emails to skip", &openapi.Schema{Type: "integer", Minimum: new(0.0)})},
		responses: replies(reply(http.StatusOK, "a page of emails", schemaOf[emailListResponse]()))})
	docs.add(api.GET("/email-queue/:id", h.get, RequireUser, admit), route{tag: tag, summary: "One queued email (admins)",
		responses: replies(reply(http.StatusOK, "the email", queued))})
	docs.add(api.POST("/email-queue/:id/retry", h.retry, RequireUser, admit), route{tag: tag, summary: "Send a failed email again (admins)",
		responses: replies(reply(http.StatusOK, "the email", queued))})
	docs.add(api.POST("/email-queue/:id/cancel", h.cancel, RequireUser, admit), route{tag: tag, summary: "Cancel a queued email (admins)",
		responses: replies(reply(http.StatusOK, "the email", queued))})
}

func (h emailQueueHandler) create(c echo.Context) error {
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	var req email.Request
	if err := decodeFields(body, &req, `an email: {"to": [{"address": "..."}], "subject": "...", "body": "..."}`); err != nil {
		return err
	}
	e, err := h.email.Submit(c.Request().Context(), req)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, APIPrefix+"/email-queue/"+url.PathEscape(e.ID))
	return data(c, http.StatusCreated, e)
}

// emailListResponse is the body of a queue list.
type emailListResponse struct {
	Data   []ports.QueuedEmail `json:"data"`
	Total  int                 `json:"total"`
	Limit  int                 `json:"limit"`
	Offset int                 `json:"offset"`
}

func (h emailQueueHandler) list(c echo.Context) error {
	q := c.QueryParams()
	verr := &core.ValidationError{}
	for k, v := range q {
		switch k {
		case "status", "reference_doctype", "reference_id", "limit", "offset":
			if len(v) > 1 {
				verr.Add(k, "must be given once")
			}
			if len(v[0]) > 140 {
				verr.Add(k, "must be at most 140 characters")
			}
		default:
			verr.Add(k, "unknown parameter (status, reference_doctype, reference_id, limit, offset)")
		}
	}
	f := ports.EmailQueueFilter{Status: q.Get("status"), ReferenceDocType: q.Get("reference_doctype"), ReferenceID: q.Get("reference_id")}
	whole := func(name string, dst *int) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				verr.Add(name, "must be a whole number")
			}
			*dst = n
		}
	}
	whole("limit", &f.Limit)
	whole("offset", &f.Offset)
	if q.Get("limit") != "" && f.Limit == 0 {
		verr.Add("limit", "must be between 1 and 1000 (leave it out for 20)")
	}
	if err := verr.Err(); err != nil {
		return err
	}
	items, total, err := h.email.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if items == nil {
		items = []ports.QueuedEmail{}
	}
	limit := f.Limit
	if limit == 0 {
		limit = 20
	}
	return c.JSON(http.StatusOK, emailListResponse{Data: items, Total: total, Limit: limit, Offset: f.Offset})
}

func (h emailQueueHandler) get(c echo.Context) error {
	e, err := h.email.Get(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, e)
}

func (h emailQueueHandler) retry(c echo.Context) error {
	e, err := h.email.Retry(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, e)
}

func (h emailQueueHandler) cancel(c echo.Context) error {
	e, err := h.email.Cancel(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return data(c, http.StatusOK, e)
}
