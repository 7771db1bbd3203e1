package web

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/openapi"
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
func bindResource(api *echo.Group, resources *resource.Service, maxBody int64, docs *routeDocs) {
	if resources == nil {
		return
	}
	h := resourceHandler{resources: resources, maxBody: maxBody}
	// Route-level middleware, not a middleware group: a group would add its own
	// catch-all 404 route and hide 405s.
	const tag = openapi.ResourceTag
	doc := anyObject("a document: see the DocType's own path for its fields")
	etag := map[string]*openapi.Header{"ETag": {Ref: "#/components/headers/" + openapi.ETagHeader}}
	one := func(description string) *openapi.Response {
		return &openapi.Response{Description: description, Headers: etag, Content: openapi.JSON(dataOf(doc))}
	}
	docs.add(api.GET("/resource/:doctype", h.list, RequireUser), route{tag: tag, summary: "List documents of any DocType",
		description: "The generic form; each DocType the caller may read also has its own path with its schemas.",
		params: []*openapi.Parameter{openapi.ParamRef(openapi.ParamFilters), openapi.ParamRef(openapi.ParamFields), openapi.ParamRef(openapi.ParamOrderBy),
			openapi.ParamRef(openapi.ParamLimit), openapi.ParamRef(openapi.ParamOffset), openapi.ParamRef(openapi.ParamSkipTotal)},
		responses: replies(reply(http.StatusOK, "a page of documents the caller may read", openapi.Object(map[string]*openapi.Schema{
			"data": openapi.Array(doc), "total": integer(), "limit": integer(), "offset": integer()}, "data", "total", "limit", "offset"))),
		// One path set per DocType, with its own schemas.
		expand: func(d *openapi.Document, dts []*doctype.DocType, names map[string]openapi.DocTypeSchemas) {
			for _, dt := range dts {
				d.AddResource(APIPrefix+"/resource", dt, names[dt.Name])
			}
		}})
	docs.add(api.POST("/resource/:doctype", h.create, RequireUser), route{tag: tag, summary: "Create a document of any DocType",
		body: jsonBody(anyObject("the document's fields")),
		responses: replies(status{"201", &openapi.Response{Description: "created; Location names it",
			Headers: map[string]*openapi.Header{"ETag": etag["ETag"], "Location": {Schema: str()}}, Content: openapi.JSON(dataOf(doc))}})})
	docs.add(api.GET("/resource/:doctype/:name", h.get, RequireUser), route{tag: tag, summary: "Get a document of any DocType",
		params:    []*openapi.Parameter{openapi.ParamRef(openapi.ParamFields), openapi.ParamRef(openapi.ParamIfNone)},
		responses: replies(status{"200", one("the document")}, status{"304", &openapi.Response{Description: "not modified", Headers: etag}})})
	docs.add(api.PATCH("/resource/:doctype/:name", h.patch, RequireUser), route{tag: tag, summary: "Change a document of any DocType",
		params:    []*openapi.Parameter{openapi.ParamRef(openapi.ParamIfMatch)},
		body:      jsonBody(anyObject("the fields to change; null clears one")),
		responses: replies(status{"200", one("the changed document")})})
	docs.add(api.DELETE("/resource/:doctype/:name", h.delete, RequireUser), route{tag: tag, summary: "Delete a document of any DocType",
		responses: replies(reply(http.StatusOK, "deleted", dataOf(obj(map[string]*openapi.Schema{"doctype": str(), "name": str(), "deleted": boolean()}))))})
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
