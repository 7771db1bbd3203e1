// Package openapi is the OpenAPI 3.1 description of a Framework M app: the
// document model (plain structs marshalled to JSON, schemas in the JSON
// Schema 2020-12 dialect) and the parts every app shares — the schemas of
// each registered DocType derived from its Go struct and Meta, the one error
// shape, the list parameters, the ETag and If-Match headers and the
// security schemes. The web adapter adds the operations of its routes; the
// document is generated from the running app, never written by hand.
//
// It imports only the standard library and this module.
package openapi

// Version is the OpenAPI version of every document.
const Version = "3.1.0"

// Dialect is the JSON Schema dialect of the document's schemas.
const Dialect = "https://spec.openapis.org/oas/3.1/dialect/base"

// Document is an OpenAPI 3.1 document.
type Document struct {
	OpenAPI           string               `json:"openapi"`
	Info              Info                 `json:"info"`
	JSONSchemaDialect string               `json:"jsonSchemaDialect,omitempty"`
	Servers           []Server             `json:"servers,omitempty"`
	Paths             map[string]*PathItem `json:"paths"`
	Components        Components           `json:"components"`
	// Security is the default of every operation that sets none.
	Security []SecurityRequirement `json:"security,omitempty"`
	Tags     []Tag                 `json:"tags,omitempty"`
}

// Info describes the API.
type Info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// Server is a base URL of the API.
type Server struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
}

// Tag groups operations.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// PathItem holds the operations of one path.
type PathItem struct {
	Get     *Operation `json:"get,omitempty"`
	Put     *Operation `json:"put,omitempty"`
	Post    *Operation `json:"post,omitempty"`
	Delete  *Operation `json:"delete,omitempty"`
	Options *Operation `json:"options,omitempty"`
	Head    *Operation `json:"head,omitempty"`
	Patch   *Operation `json:"patch,omitempty"`
	Trace   *Operation `json:"trace,omitempty"`
	// Parameters apply to every operation of the path (its path parameters).
	Parameters []*Parameter `json:"parameters,omitempty"`
}

// Operation returns the path item's operation of HTTP method (upper case),
// or nil.
func (p *PathItem) Operation(method string) *Operation {
	if slot := p.slot(method); slot != nil {
		return *slot
	}
	return nil
}

// SetOperation sets the path item's operation of HTTP method; it reports
// false for a method OpenAPI has no slot for (CONNECT, custom methods).
func (p *PathItem) SetOperation(method string, op *Operation) bool {
	slot := p.slot(method)
	if slot == nil {
		return false
	}
	*slot = op
	return true
}

func (p *PathItem) slot(method string) **Operation {
	switch method {
	case "GET":
		return &p.Get
	case "PUT":
		return &p.Put
	case "POST":
		return &p.Post
	case "DELETE":
		return &p.Delete
	case "OPTIONS":
		return &p.Options
	case "HEAD":
		return &p.Head
	case "PATCH":
		return &p.Patch
	case "TRACE":
		return &p.Trace
	}
	return nil
}

// Operation is one method of one path.
type Operation struct {
	Tags        []string     `json:"tags,omitempty"`
	Summary     string       `json:"summary,omitempty"`
	Description string       `json:"description,omitempty"`
	OperationID string       `json:"operationId,omitempty"`
	Parameters  []*Parameter `json:"parameters,omitempty"`
	RequestBody *RequestBody `json:"requestBody,omitempty"`
	// Responses are keyed by status code ("200", "4XX") or "default".
	Responses map[string]*Response `json:"responses"`
	// Security overrides the document's: nil inherits it, an empty list
	// makes the operation public.
	Security   *[]SecurityRequirement `json:"security,omitempty"`
	Deprecated bool                   `json:"deprecated,omitempty"`
}

// Parameter is a path, query, header or cookie parameter, or a reference
// to one in components.parameters.
type Parameter struct {
	Ref         string  `json:"$ref,omitempty"`
	Name        string  `json:"name,omitempty"`
	In          string  `json:"in,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Deprecated  bool    `json:"deprecated,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
}

// RequestBody is an operation's request body.
type RequestBody struct {
	Ref         string                `json:"$ref,omitempty"`
	Description string                `json:"description,omitempty"`
	Required    bool                  `json:"required,omitempty"`
	Content     map[string]*MediaType `json:"content,omitempty"`
}

// Response is one response of an operation, or a reference to one in
// components.responses.
type Response struct {
	Ref         string                `json:"$ref,omitempty"`
	Description string                `json:"description,omitempty"`
	Headers     map[string]*Header    `json:"headers,omitempty"`
	Content     map[string]*MediaType `json:"content,omitempty"`
}

// MediaType is the schema of a body of one content type.
type MediaType struct {
	Schema *Schema `json:"schema,omitempty"`
}

// Header is a response header, or a reference to one in components.headers.
type Header struct {
	Ref         string  `json:"$ref,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
}

// Components holds the reusable parts of the document.
type Components struct {
	Schemas         map[string]*Schema         `json:"schemas,omitempty"`
	Responses       map[string]*Response       `json:"responses,omitempty"`
	Parameters      map[string]*Parameter      `json:"parameters,omitempty"`
	Headers         map[string]*Header         `json:"headers,omitempty"`
	SecuritySchemes map[string]*SecurityScheme `json:"securitySchemes,omitempty"`
}

// SecurityScheme is a way to authenticate.
type SecurityScheme struct {
	Type         string `json:"type"`
	Description  string `json:"description,omitempty"`
	Name         string `json:"name,omitempty"`
	In           string `json:"in,omitempty"`
	Scheme       string `json:"scheme,omitempty"`
	BearerFormat string `json:"bearerFormat,omitempty"`
}

// SecurityRequirement names the schemes that together authenticate a
// request (all of them); a list of requirements offers alternatives.
type SecurityRequirement map[string][]string

// Schema is a JSON Schema (2020-12) object. Type is a string or, for a
// nullable value, a list of strings (["string", "null"]).
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 any                `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Enum                 []any              `json:"enum,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	AnyOf                []*Schema          `json:"anyOf,omitempty"`
	OneOf                []*Schema          `json:"oneOf,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	MinLength            *int               `json:"minLength,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`
	ReadOnly             bool               `json:"readOnly,omitempty"`
	WriteOnly            bool               `json:"writeOnly,omitempty"`
	Deprecated           bool               `json:"deprecated,omitempty"`
	Examples             []any              `json:"examples,omitempty"`
}

// Ref returns a schema that refers to components.schemas[name].
func Ref(name string) *Schema { return &Schema{Ref: "#/components/schemas/" + name} }

// Object returns an object schema with props, of which required must be
// present; no other property is allowed.
func Object(props map[string]*Schema, required ...string) *Schema {
	return &Schema{Type: "object", Properties: props, Required: required, AdditionalProperties: false}
}

// OpenObject returns an object schema with props that allows other
// properties too.
func OpenObject(props map[string]*Schema, required ...string) *Schema {
	return &Schema{Type: "object", Properties: props, Required: required}
}

// String returns a string schema.
func String(description string) *Schema { return &Schema{Type: "string", Description: description} }

// Integer returns an integer schema.
func Integer(description string) *Schema { return &Schema{Type: "integer", Description: description} }

// Boolean returns a boolean schema.
func Boolean(description string) *Schema { return &Schema{Type: "boolean", Description: description} }

// Array returns an array schema of items.
func Array(items *Schema) *Schema { return &Schema{Type: "array", Items: items} }

// Any returns a schema every JSON value matches.
func Any(description string) *Schema { return &Schema{Description: description} }

// Nullable returns s allowing null as well.
func Nullable(s *Schema) *Schema {
	if s == nil {
		return nil
	}
	switch t := s.Type.(type) {
	case string:
		c := *s
		c.Type = []string{t, "null"}
		if c.Enum != nil {
			c.Enum = append(append([]any{}, c.Enum...), nil)
		}
		return &c
	case []string:
		for _, x := range t {
			if x == "null" {
				return s
			}
		}
		c := *s
		c.Type = append(append([]string{}, t...), "null")
		if c.Enum != nil {
			c.Enum = append(append([]any{}, c.Enum...), nil)
		}
		return &c
	}
	if s.Ref == "" && s.AnyOf == nil && s.OneOf == nil {
		return s // no type: null matches already
	}
	return &Schema{AnyOf: []*Schema{s, {Type: "null"}}}
}

func ptr[T any](v T) *T { return &v }
