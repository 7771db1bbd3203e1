package openapi

import (
	"sort"
	"strings"

	"github.com/framework-m/framework-m/core/doctype"
)

// ResourceTag is the tag of the generic resource operations.
const ResourceTag = "Resource"

// DataOf returns the schema of a {"data": s} body.
func DataOf(s *Schema) *Schema { return Object(map[string]*Schema{"data": s}, "data") }

// ResourcePath returns the path of a DocType's documents under prefix
// (such as /api/v1/resource): the DocType's name, as clients send it.
func ResourcePath(prefix string, dt *doctype.DocType) string {
	return strings.TrimSuffix(prefix, "/") + "/" + dt.Name
}

// AddResource adds the resource API of one DocType under prefix (such as
// /api/v1/resource): list and create on /<DocType>, get, patch and delete
// on /<DocType>/{name}, with the DocType's schemas n. Operations the
// DocType refuses (create of an immutable or single DocType, changes of an
// append-only one) are left out; the generic form still describes their
// 405 answer.
func (d *Document) AddResource(prefix string, dt *doctype.DocType, n DocTypeSchemas) {
	coll := ResourcePath(prefix, dt)
	one := coll + "/{name}"
	tag := []string{dt.Name}
	d.SetTagDescription(dt.Name, dt.Description)
	id := n.Read // unique, like the schema names
	read := Ref(n.Read)
	etag := map[string]*Header{ETagHeader: {Ref: "#/components/headers/" + ETagHeader}}
	doc := func(status string) *Response {
		return &Response{Description: status, Headers: etag, Content: JSON(DataOf(read))}
	}
	unsafe := d.UserSecurity(true)

	list := &Operation{
		Tags: tag, Summary: "List " + dt.Name, OperationID: "list" + id,
		Description: listDescription(dt),
		Parameters: []*Parameter{ParamRef(ParamFilters), ParamRef(ParamFields), ParamRef(ParamOrderBy),
			ParamRef(ParamLimit), ParamRef(ParamOffset), ParamRef(ParamSkipTotal)},
		Responses: map[string]*Response{"200": {Description: "a page of documents the caller may read", Content: JSON(Ref(n.List))}},
	}
	d.Add("GET", coll, list)
	if !dt.IsSingle && !dt.AppendOnly && !dt.Immutable {
		create := &Operation{
			Tags: tag, Summary: "Create " + dt.Name, OperationID: "create" + id,
			RequestBody: &RequestBody{Required: true, Content: JSON(Ref(n.Create))},
			Responses: map[string]*Response{"201": {Description: "created; Location names the new document",
				Headers: map[string]*Header{ETagHeader: {Ref: "#/components/headers/" + ETagHeader}, "Location": {Schema: &Schema{Type: "string"}}},
				Content: JSON(DataOf(read))}},
			Security: &unsafe,
		}
		d.Add("POST", coll, create)
	}
	get := &Operation{
		Tags: tag, Summary: "Get a " + dt.Name, OperationID: "get" + id,
		Parameters: []*Parameter{ParamRef(ParamFields), ParamRef(ParamIfNone)},
		Responses: map[string]*Response{
			"200": doc("the document"),
			"304": {Description: "not modified: the document still has the ETag of If-None-Match", Headers: etag},
		},
	}
	d.Add("GET", one, get)
	if !dt.AppendOnly && !dt.Immutable {
		patch := &Operation{
			Tags: tag, Summary: "Change a " + dt.Name, OperationID: "patch" + id,
			Description: "Fields absent from the body keep their values; null clears a field.",
			Parameters:  []*Parameter{ParamRef(ParamIfMatch)},
			RequestBody: &RequestBody{Required: true, Content: JSON(Ref(n.Patch))},
			Responses:   map[string]*Response{"200": doc("the changed document")},
			Security:    &unsafe,
		}
		d.Add("PATCH", one, patch)
	}
	if !dt.AppendOnly && !dt.IsSingle {
		del := &Operation{
			Tags: tag, Summary: "Delete a " + dt.Name, OperationID: "delete" + id,
			Responses: map[string]*Response{"200": {Description: "deleted", Content: JSON(DataOf(Object(map[string]*Schema{
				"doctype": {Type: "string"}, "name": {Type: "string"}, "deleted": {Type: "boolean"},
			}, "doctype", "name", "deleted")))}},
			Security: &unsafe,
		}
		d.Add("DELETE", one, del)
	}
}

// listDescription names the fields a list may filter and sort on.
func listDescription(dt *doctype.DocType) string {
	var filter, sortable []string
	for _, f := range dt.Fields() {
		if f.Hidden {
			continue
		}
		if f.Filterable {
			filter = append(filter, f.Name)
		}
		if f.Sortable {
			sortable = append(sortable, f.Name)
		}
	}
	sort.Strings(filter)
	sort.Strings(sortable)
	var b strings.Builder
	b.WriteString("Documents the caller may read (row-level security applies).")
	if len(filter) > 0 {
		b.WriteString(" Filterable fields: " + strings.Join(filter, ", ") + ".")
	}
	if len(sortable) > 0 {
		b.WriteString(" Sortable fields: " + strings.Join(sortable, ", ") + ".")
	}
	return b.String()
}
