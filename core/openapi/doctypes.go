package openapi

import (
	"reflect"
	"slices"
	"strings"

	"github.com/framework-m/framework-m/core/doctype"
)

// TagKey is the struct tag that adds to a DocType field's schema what Go
// types cannot say:
//
//	Status string `json:"status" openapi:"enum=Draft|Paid|Cancelled"`
//	Customer string `json:"customer" openapi:"required"`
//
// enum lists the values the field takes (a select field); required makes
// the field required on create.
const TagKey = "openapi"

// fieldTag is a parsed openapi struct tag.
type fieldTag struct {
	enum     []string
	required bool
}

func parseTag(t reflect.Type, f doctype.Field) fieldTag {
	sf := t.FieldByIndex(f.Index)
	var out fieldTag
	for _, part := range strings.Split(sf.Tag.Get(TagKey), ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "required":
			out.required = true
		case strings.HasPrefix(part, "enum="):
			for _, v := range strings.Split(strings.TrimPrefix(part, "enum="), "|") {
				out.enum = append(out.enum, v)
			}
		}
	}
	return out
}

// SchemaName returns the name of a DocType's read schema in
// components.schemas: its name with everything but letters, digits, '.',
// '-' and '_' left out ("Email Queue" → "EmailQueue").
func SchemaName(dt *doctype.DocType) string {
	var b strings.Builder
	for _, c := range dt.Name {
		if c == '.' || c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "DocType"
	}
	return b.String()
}

// DocTypeSchemas are the names of one DocType's four schemas.
type DocTypeSchemas struct {
	// Read is what the server sends (<X>), Create what a create accepts
	// (<X>Create), Patch what an update accepts (<X>Patch, every field
	// optional) and List a page of a list (<X>List).
	Read, Create, Patch, List string
}

// AddDocTypes adds the schemas of every DocType of reg for which visible
// returns true (nil: all) and returns those DocTypes in registration order
// with their schema names. A field whose type is another added DocType's
// struct (a child table: a list of them) refers to that DocType's schema.
// Hidden fields appear nowhere.
func (d *Document) AddDocTypes(reg *doctype.Registry, visible func(*doctype.DocType) bool) ([]*doctype.DocType, map[string]DocTypeSchemas) {
	var dts []*doctype.DocType
	r := &Reflector{Refs: map[reflect.Type]string{}, InputRefs: map[reflect.Type]string{}, Opaque: map[reflect.Type]bool{}}
	for _, dt := range reg.All() {
		if visible == nil || visible(dt) {
			dts = append(dts, dt)
		} else {
			r.Opaque[dt.Type] = true // a child table of a visible one: no fields
		}
	}
	names := map[string]DocTypeSchemas{}
	used := map[string]bool{}
	for name := range d.Components.Schemas {
		used[name] = true
	}
	for _, dt := range dts {
		base := SchemaName(dt)
		name := base
		for i := 2; used[name] || used[name+"Create"] || used[name+"Patch"] || used[name+"List"]; i++ {
			name = base + itoa(i)
		}
		for _, suffix := range []string{"", "Create", "Patch", "List"} {
			used[name+suffix] = true
		}
		n := DocTypeSchemas{Read: name, Create: name + "Create", Patch: name + "Patch", List: name + "List"}
		names[dt.Name] = n
		r.Refs[dt.Type] = n.Read
		r.InputRefs[dt.Type] = n.Create
	}
	for _, dt := range dts {
		n := names[dt.Name]
		d.Components.Schemas[n.Read] = readSchema(r, dt)
		d.Components.Schemas[n.Create] = createSchema(r, dt)
		d.Components.Schemas[n.Patch] = patchSchema(r, dt)
		d.Components.Schemas[n.List] = listSchema(dt, n.Read)
	}
	return dts, names
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// fieldSchema is the schema of one visible field of dt.
func fieldSchema(r *Reflector, dt *doctype.DocType, f doctype.Field, dir Direction) *Schema {
	// A DocType's own type is not a child of itself.
	s := r.Schema(f.Type, dir)
	tag := parseTag(dt.Type, f)
	if len(tag.enum) > 0 {
		c := *s
		c.Enum = nil
		for _, v := range tag.enum {
			c.Enum = append(c.Enum, v)
		}
		if isNullable(&c) {
			c.Enum = append(c.Enum, nil)
		}
		s = &c
	}
	if f.MaxLength > 0 && hasType(s, "string") && s.Pattern == "" {
		c := *s
		c.MaxLength = ptr(f.MaxLength)
		s = &c
	}
	if f.ReadOnly && dir == Read {
		c := *s
		c.ReadOnly = true
		s = &c
	}
	if desc := fieldDescription(dt, f); desc != "" && s.Ref == "" && s.AnyOf == nil {
		c := *s
		if c.Description != "" {
			c.Description = desc + "; " + c.Description
		} else {
			c.Description = desc
		}
		s = &c
	}
	return s
}

// fieldDescription says what the Base fields are.
func fieldDescription(dt *doctype.DocType, f doctype.Field) string {
	switch f.Name {
	case doctype.FieldName:
		switch {
		case dt.IsSingle:
			return "the DocType's name: a single DocType has one document per tenant"
		case dt.Naming == doctype.NamingPrompt:
			return "the document's name, given by the client on create"
		case strings.HasPrefix(dt.Naming, "field:"):
			return "the document's name: the value of " + strings.TrimPrefix(dt.Naming, "field:")
		case dt.Naming == "" || dt.Naming == doctype.NamingUUID:
			return "the document's name: a UUIDv7 given by the server"
		}
		return "the document's name, from the series " + dt.Naming
	case doctype.FieldVersion:
		return "the document's version: 1 when created, one more at every update (its ETag)"
	case doctype.FieldOwner:
		return "the user who created the document"
	case doctype.FieldTenantID:
		return "the tenant the document belongs to"
	case doctype.FieldModifiedBy:
		return "the user who changed the document last"
	}
	return ""
}

func hasType(s *Schema, want string) bool {
	switch t := s.Type.(type) {
	case string:
		return t == want
	case []string:
		return slices.Contains(t, want)
	}
	return false
}

func isNullable(s *Schema) bool { return hasType(s, "null") }

// readSchema is <X>: every visible field. None is required: a list or a
// get with a fields projection sends only those fields.
func readSchema(r *Reflector, dt *doctype.DocType) *Schema {
	props := map[string]*Schema{}
	for _, f := range dt.Fields() {
		if f.Hidden {
			continue
		}
		props[f.Name] = fieldSchema(r, dt, f, Read)
	}
	s := Object(props)
	s.Title = dt.Name
	s.Description = dt.Description
	return s
}

// createSchema is <X>Create: the fields a client may set on create.
// "name" belongs to it only with naming "prompt", where it is required.
func createSchema(r *Reflector, dt *doctype.DocType) *Schema {
	props := map[string]*Schema{}
	var required []string
	for _, f := range dt.Fields() {
		if f.Hidden {
			continue
		}
		prompt := f.Name == doctype.FieldName && dt.Naming == doctype.NamingPrompt
		if f.ReadOnly && !prompt {
			continue
		}
		s := fieldSchema(r, dt, f, Input)
		if prompt {
			s = fieldSchema(r, dt, f, Read)
			s.ReadOnly = false
			s.MinLength = ptr(1)
		}
		props[f.Name] = s
		if prompt || parseTag(dt.Type, f).required || dt.Naming == "field:"+f.Name {
			required = append(required, f.Name)
		}
	}
	s := Object(props, required...)
	s.Title = dt.Name + " (create)"
	return s
}

// patchSchema is <X>Patch: every visible field, all optional. Read-only
// fields are accepted with their current value only (a fetched document
// may be sent back whole); "version", when given, must be the current
// version (optimistic locking, like If-Match).
func patchSchema(r *Reflector, dt *doctype.DocType) *Schema {
	props := map[string]*Schema{}
	for _, f := range dt.Fields() {
		if f.Hidden {
			continue
		}
		var s *Schema
		switch {
		case f.Name == doctype.FieldVersion:
			s = &Schema{Type: "integer", Format: "int64", Minimum: ptr(1.0),
				Description: "the version the change applies to: 409 Conflict when the document has changed since"}
		case f.ReadOnly:
			s = fieldSchema(r, dt, f, Read)
			c := *s
			c.ReadOnly = true
			if c.Ref == "" && c.AnyOf == nil {
				c.Description = strings.TrimPrefix(c.Description+"; read-only: accepted with its current value only", "; ")
			}
			s = &c
		default:
			s = fieldSchema(r, dt, f, Input)
		}
		props[f.Name] = s
	}
	s := Object(props)
	s.Title = dt.Name + " (patch)"
	return s
}

// listSchema is <X>List: a page of documents and the total of matches.
func listSchema(dt *doctype.DocType, read string) *Schema {
	s := Object(map[string]*Schema{
		"data":   Array(Ref(read)),
		"total":  {Type: "integer", Format: "int64", Minimum: ptr(-1.0), Description: "documents matching the filters (-1 with skip_total=true)"},
		"limit":  {Type: "integer", Minimum: ptr(1.0), Description: "the page size"},
		"offset": {Type: "integer", Minimum: ptr(0.0), Description: "documents skipped"},
	}, "data", "total", "limit", "offset")
	s.Title = dt.Name + " (list)"
	return s
}
