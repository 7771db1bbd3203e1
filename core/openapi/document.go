package openapi

import (
	"sort"
	"strings"
)

// Names of the shared components.
const (
	// ErrorSchema is the one JSON error shape.
	ErrorSchema = "Error"
	// ErrorResponse is a response carrying it.
	ErrorResponse = "Error"
	// ETagHeader is a document's version as a response header.
	ETagHeader = "ETag"
)

// Names of the list parameters in components.parameters.
const (
	ParamFilters   = "filters"
	ParamFields    = "fields"
	ParamOrderBy   = "order_by"
	ParamLimit     = "limit"
	ParamOffset    = "offset"
	ParamSkipTotal = "skip_total"
	ParamIfMatch   = "If-Match"
	ParamIfNone    = "If-None-Match"
)

// Names of the security schemes in components.securitySchemes.
const (
	SchemeBearer  = "bearerAuth"
	SchemeSession = "sessionCookie"
	SchemeCSRF    = "csrfToken"
	SchemeAPIKey  = "apiKey"
	SchemeBasic   = "basicAuth"
)

// Security says which ways to authenticate the app is configured for; only
// those become security schemes.
type Security struct {
	// Bearer: access tokens (JWT) in Authorization: Bearer.
	Bearer bool
	// SessionCookie names the session cookie of browser sessions ("": none);
	// CSRFHeader the header carrying their CSRF token on unsafe requests.
	SessionCookie, CSRFHeader string
	// APIKeyHeader names the header carrying API keys ("": none).
	APIKeyHeader string
	// Basic: user name and password in Authorization: Basic.
	Basic bool
}

// Options configure a new Document.
type Options struct {
	// Title and Version are the info object's (defaults "Framework M API"
	// and "1.0.0"); Description documents the API.
	Title, Version, Description string
	// Servers are the API's base URLs.
	Servers []string
	// Security lists the configured ways to authenticate.
	Security Security
}

// New returns a document with the shared components: the error shape, the
// list parameters, the ETag header, the security schemes of opts.Security
// and, as the default of every operation, those schemes as alternatives.
func New(opts Options) *Document {
	if opts.Title == "" {
		opts.Title = "Framework M API"
	}
	if opts.Version == "" {
		opts.Version = "1.0.0"
	}
	d := &Document{
		OpenAPI:           Version,
		Info:              Info{Title: opts.Title, Version: opts.Version, Description: opts.Description},
		JSONSchemaDialect: Dialect,
		Paths:             map[string]*PathItem{},
		Components: Components{
			Schemas:         map[string]*Schema{ErrorSchema: errorSchema()},
			Responses:       map[string]*Response{ErrorResponse: {Description: "An error, in the one JSON error shape", Content: JSON(Ref(ErrorSchema))}},
			Parameters:      listParameters(),
			Headers:         map[string]*Header{ETagHeader: {Description: "the document's version, quoted (\"3\"): send it back in If-Match", Schema: &Schema{Type: "string", Pattern: `^"[0-9]+"$`}}},
			SecuritySchemes: map[string]*SecurityScheme{},
		},
	}
	for _, s := range opts.Servers {
		d.Servers = append(d.Servers, Server{URL: s})
	}
	d.securitySchemes(opts.Security)
	d.Security = d.UserSecurity(false)
	return d
}

// JSON returns the content map of a JSON body of schema s.
func JSON(s *Schema) map[string]*MediaType {
	return map[string]*MediaType{"application/json": {Schema: s}}
}

// errorSchema is the one JSON error shape (adapters/web.ErrorBody).
func errorSchema() *Schema {
	detail := Object(map[string]*Schema{
		"code":    {Type: "string", Description: "a stable machine-readable code: validation_error, unauthorized, forbidden, not_found, conflict …"},
		"message": {Type: "string", Description: "a message safe to show to a user"},
		"fields":  {Type: "object", AdditionalProperties: &Schema{Type: "string"}, Description: "what is wrong with each invalid field"},
		"current": {Type: "object", Description: "the current document, on a version conflict"},
	}, "code", "message")
	s := Object(map[string]*Schema{
		"error":      detail,
		"request_id": {Type: "string", Description: "the request's id (X-Request-ID): quote it when reporting a problem"},
	}, "error", "request_id")
	s.Title = "Error"
	return s
}

// listParameters are the query parameters of the resource list.
func listParameters() map[string]*Parameter {
	return map[string]*Parameter{
		ParamFilters: {Name: "filters", In: "query", Schema: &Schema{Type: "string", MaxLength: ptr(64 << 10)},
			Description: `JSON filters: a list [["status","=","Paid"],["amount",">",100]] or an object {"status":"Paid","amount":[">",100]}. ` +
				`Operators: = != < <= > >= in, not in, like, is null, is not null (also ["field","is","set"|"not set"]); at most 50 filters.`},
		ParamFields: {Name: "fields", In: "query", Schema: &Schema{Type: "string", MaxLength: ptr(16 << 10)},
			Description: `the fields to return: a JSON list ["name","amount"] or comma-separated name,amount (at most 200); all visible fields when absent`},
		ParamOrderBy: {Name: "order_by", In: "query", Schema: &Schema{Type: "string", MaxLength: ptr(4 << 10)},
			Description: `the sort: "amount desc, name" or "-amount,name" (at most 10 terms); the DocType's default order when absent`},
		ParamLimit: {Name: "limit", In: "query", Schema: &Schema{Type: "integer", Minimum: ptr(1.0), Maximum: ptr(1000.0)},
			Description: "the page size, 1 to 1000 (20 when absent); limit_page_length is an alias"},
		ParamOffset: {Name: "offset", In: "query", Schema: &Schema{Type: "integer", Minimum: ptr(0.0)},
			Description: "documents to skip; limit_start is an alias"},
		ParamSkipTotal: {Name: "skip_total", In: "query", Schema: &Schema{Type: "boolean"},
			Description: "true: do not count all matches (total is -1), faster on large tables"},
		ParamIfMatch: {Name: "If-Match", In: "header", Schema: &Schema{Type: "string"},
			Description: `the version the change applies to, as the ETag sent it ("3"); 409 Conflict when the document has changed since. * or absent: the current version`},
		ParamIfNone: {Name: "If-None-Match", In: "header", Schema: &Schema{Type: "string"},
			Description: "an ETag the client holds: 304 Not Modified while the document still has it"},
	}
}

// ParamRef returns a reference to components.parameters[name].
func ParamRef(name string) *Parameter { return &Parameter{Ref: "#/components/parameters/" + name} }

// ErrorRef returns a reference to the shared error response.
func ErrorRef() *Response { return &Response{Ref: "#/components/responses/" + ErrorResponse} }

func (d *Document) securitySchemes(s Security) {
	ss := d.Components.SecuritySchemes
	if s.Bearer {
		ss[SchemeBearer] = &SecurityScheme{Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "an access token from POST /api/v1/auth/login, in Authorization: Bearer"}
	}
	if s.SessionCookie != "" {
		ss[SchemeSession] = &SecurityScheme{Type: "apiKey", In: "cookie", Name: s.SessionCookie,
			Description: "a browser session from POST /api/v1/auth/login?session=true; unsafe requests also send the CSRF token"}
		if s.CSRFHeader != "" {
			ss[SchemeCSRF] = &SecurityScheme{Type: "apiKey", In: "header", Name: s.CSRFHeader,
				Description: "the csrf_token cookie's value, on every unsafe request of a cookie session"}
		}
	}
	if s.APIKeyHeader != "" {
		ss[SchemeAPIKey] = &SecurityScheme{Type: "apiKey", In: "header", Name: s.APIKeyHeader,
			Description: "an API key from POST /api/v1/auth/api-keys"}
	}
	if s.Basic {
		ss[SchemeBasic] = &SecurityScheme{Type: "http", Scheme: "basic", Description: "a user's email and password"}
	}
}

// UserSecurity returns the configured schemes as alternatives, the
// security of a route for signed-in users; unsafe (a method that changes
// something) pairs the session cookie with its CSRF header. With no scheme
// configured it is an empty list: nothing can authenticate.
func (d *Document) UserSecurity(unsafe bool) []SecurityRequirement {
	var out []SecurityRequirement
	for _, name := range []string{SchemeBearer, SchemeSession, SchemeAPIKey, SchemeBasic} {
		if _, ok := d.Components.SecuritySchemes[name]; !ok {
			continue
		}
		req := SecurityRequirement{name: {}}
		if _, csrf := d.Components.SecuritySchemes[SchemeCSRF]; name == SchemeSession && unsafe && csrf {
			req[SchemeCSRF] = []string{}
		}
		out = append(out, req)
	}
	if out == nil {
		out = []SecurityRequirement{}
	}
	return out
}

// Add sets the operation of method on path (an OpenAPI path such as
// /api/v1/resource/{doctype}) and declares its path parameters (strings)
// unless the operation declares them itself. An existing operation is
// replaced. It reports false for a method OpenAPI cannot describe.
func (d *Document) Add(method, path string, op *Operation) bool {
	item := d.Paths[path]
	if item == nil {
		item = &PathItem{}
	}
	if !item.SetOperation(strings.ToUpper(method), op) {
		return false
	}
	d.Paths[path] = item
	for _, name := range PathParams(path) {
		if hasParam(op.Parameters, name, "path") {
			continue
		}
		op.Parameters = append(op.Parameters, &Parameter{Name: name, In: "path", Required: true, Schema: &Schema{Type: "string"}})
	}
	if op.Responses == nil {
		op.Responses = map[string]*Response{}
	}
	if _, ok := op.Responses["default"]; !ok {
		op.Responses["default"] = ErrorRef()
	}
	for _, t := range op.Tags {
		d.tag(t)
	}
	return true
}

func hasParam(ps []*Parameter, name, in string) bool {
	for _, p := range ps {
		if p.Name == name && p.In == in {
			return true
		}
	}
	return false
}

// PathParams lists the {name} parameters of an OpenAPI path.
func PathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

func (d *Document) tag(name string) {
	for _, t := range d.Tags {
		if t.Name == name {
			return
		}
	}
	d.Tags = append(d.Tags, Tag{Name: name})
	sort.Slice(d.Tags, func(i, j int) bool { return d.Tags[i].Name < d.Tags[j].Name })
}

// SetTagDescription describes tag name (adding it when absent).
func (d *Document) SetTagDescription(name, description string) {
	d.tag(name)
	for i := range d.Tags {
		if d.Tags[i].Name == name {
			d.Tags[i].Description = description
		}
	}
}
