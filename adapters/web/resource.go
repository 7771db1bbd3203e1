package web

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
)

// resourceHandler serves the generic document API of every DocType.
type resourceHandler struct {
	resources *resource.Service
	// maxBody caps JSON request bodies ([app] max_body_bytes).
	maxBody int64
}

// bindResource registers /resource/:doctype[/:name] (list, create, get,
// patch, delete) for signed-in users.
func bindResource(api *echo.Group, resources *resource.Service, maxBody int64) {
	if resources == nil {
		return
	}
	h := resourceHandler{resources: resources, maxBody: maxBody}
	// Route-level middleware, not a middleware group: a group would add its own
	// catch-all 404 route and hide 405s.
	api.GET("/resource/:doctype", h.list, RequireUser)
	api.POST("/resource/:doctype", h.create, RequireUser)
	api.GET("/resource/:doctype/:name", h.get, RequireUser)
	api.PATCH("/resource/:doctype/:name", h.patch, RequireUser)
	api.DELETE("/resource/:doctype/:name", h.delete, RequireUser)
}

func (h resourceHandler) doctypeOf(c echo.Context) (*doctype.DocType, error) {
	return h.resources.DocType(param(c, "doctype"))
}

func (h resourceHandler) get(c echo.Context) error {
	dt, err := h.doctypeOf(c)
	if err != nil {
		return err
	}
	fields, err := parseFields(c.QueryParam("fields"))
	if err != nil {
		return core.Invalid("fields", err.Error())
	}
	if err := h.resources.CheckFields(dt, fields); err != nil {
		return err
	}
	doc, err := h.resources.Get(c.Request().Context(), dt.Name, param(c, "name"))
	if err != nil {
		return err
	}
	if etag, ok := docETag(doc); ok && etagMatch(c.Request().Header.Get("If-None-Match"), etag) {
		c.Response().Header().Set("ETag", etag)
		return c.NoContent(http.StatusNotModified)
	}
	return docJSON(c, http.StatusOK, dt, doc, fields)
}

// listResponse is the body of a list.
type listResponse struct {
	Data   []json.RawMessage `json:"data"`
	Total  int64             `json:"total"`
	Limit  int               `json:"limit"`
	Offset int               `json:"offset"`
}

func (h resourceHandler) list(c echo.Context) error {
	dt, err := h.doctypeOf(c)
	if err != nil {
		return err
	}
	p, err := parseListParams(c.QueryParams())
	if err != nil {
		return err
	}
	res, err := h.resources.List(c.Request().Context(), dt.Name, p)
	if err != nil {
		return err
	}
	out := listResponse{Data: make([]json.RawMessage, len(res.Items)), Total: res.Total, Limit: p.Limit, Offset: p.Offset}
	if out.Limit == 0 {
		out.Limit = resource.DefaultLimit
	}
	for i, doc := range res.Items {
		if out.Data[i], err = dt.MarshalDoc(doc, p.Fields); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (h resourceHandler) create(c echo.Context) error {
	dt, err := h.doctypeOf(c)
	if err != nil {
		return err
	}
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	doc, err := h.resources.Create(c.Request().Context(), dt.Name, body)
	if err != nil {
		return err
	}
	b, _ := doctype.BaseOf(doc)
	c.Response().Header().Set(echo.HeaderLocation, APIPrefix+"/resource/"+url.PathEscape(dt.Name)+"/"+url.PathEscape(b.Name))
	return docJSON(c, http.StatusCreated, dt, doc, nil)
}

func (h resourceHandler) patch(c echo.Context) error {
	dt, err := h.doctypeOf(c)
	if err != nil {
		return err
	}
	ifMatch, err := parseIfMatch(c.Request().Header.Get("If-Match"))
	if err != nil {
		return err
	}
	body, err := readJSON(c, h.maxBody)
	if err != nil {
		return err
	}
	doc, err := h.resources.Update(c.Request().Context(), dt.Name, param(c, "name"), body, ifMatch)
	if err != nil {
		return err
	}
	return docJSON(c, http.StatusOK, dt, doc, nil)
}

func (h resourceHandler) delete(c echo.Context) error {
	dt, err := h.doctypeOf(c)
	if err != nil {
		return err
	}
	name := param(c, "name")
	if err := h.resources.Delete(c.Request().Context(), dt.Name, name); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"data": map[string]any{"doctype": dt.Name, "name": name, "deleted": true}})
}
