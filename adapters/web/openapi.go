package web

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/openapi"
	"github.com/framework-m/framework-m/ports"
)

// OpenAPIPath is where the OpenAPI document is served.
const OpenAPIPath = APIPrefix + "/openapi.json"

// Exposures of the OpenAPI document ([openapi] expose).
const (
	// OpenAPIAuthenticated serves it to signed-in users, each seeing only
	// the DocTypes they may read (the default).
	OpenAPIAuthenticated = "authenticated"
	// OpenAPIPublic serves the whole document to anyone.
	OpenAPIPublic = "public"
	// OpenAPIOff does not serve it (404); App.OpenAPI still builds it.
	OpenAPIOff = "off"
)

// OpenAPIOptions configure the OpenAPI document and its route.
type OpenAPIOptions struct {
	// Expose is "authenticated" (default when empty), "public" or "off".
	Expose string
	// Title and Version are the document's info (defaults "Framework M
	// API" and "1.0.0"); Description documents the API.
	Title, Version, Description string
	// Servers are the API's base URLs, such as https://api.example.com.
	Servers []string
}

// access says who may call a route.
type access int

const (
	// signedIn routes answer 401 to anonymous requests (the default).
	signedIn access = iota
	// public routes need no credential (login, health, the magic link).
	public
	// optional routes use a credential when one is sent.
	optional
)

// route describes one route for the OpenAPI document. Bind functions
// write it beside the route it describes:
//
//	docs.add(api.GET("/activity", h.list, RequireUser), route{tag: "Activity", summary: "…"})
type route struct {
	tag, summary, description string
	access                    access
	// params are its query and header parameters; path parameters come
	// from the path itself unless described here.
	params []*openapi.Parameter
	// body is the request body (nil: none).
	body *openapi.RequestBody
	// responses are keyed by status; every route has the error shape as
	// its default response besides.
	responses map[string]*openapi.Response
	// expand adds operations derived from the registered DocTypes (the
	// resource API's one path set per DocType).
	expand func(d *openapi.Document, dts []*doctype.DocType, names map[string]openapi.DocTypeSchemas)
}

// routeDocs records the descriptions of the routes the bind functions
// register, keyed by method and Echo path.
type routeDocs struct {
	mu sync.Mutex
	m  map[string]route
}

func newRouteDocs() *routeDocs { return &routeDocs{m: map[string]route{}} }

// add records d as the description of r (the route Echo returned) and
// returns r. A nil recorder records nothing.
func (rd *routeDocs) add(r *echo.Route, d route) *echo.Route {
	if rd == nil || r == nil {
		return r
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.m[r.Method+" "+r.Path] = d
	return r
}

func (rd *routeDocs) get(method, path string) (route, bool) {
	if rd == nil {
		return route{}, false
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	d, ok := rd.m[method+" "+path]
	return d, ok
}

// --- helpers the bind functions describe their routes with ---

// jsonBody is a required JSON request body of schema s.
func jsonBody(s *openapi.Schema) *openapi.RequestBody {
	return &openapi.RequestBody{Required: true, Content: openapi.JSON(s)}
}

// status is one response: code, what it means and its JSON body schema
// (nil: no body).
type status struct {
	code string
	res  *openapi.Response
}

// reply is a response of code with a JSON body of schema s (nil: none).
func reply(code int, description string, s *openapi.Schema) status {
	r := &openapi.Response{Description: description}
	if s != nil {
		r.Content = openapi.JSON(s)
	}
	return status{code: strconv.Itoa(code), res: r}
}

// replyAs is a response of code with a body of content type ct (schema
// s, nil: any bytes).
func replyAs(code int, description, ct string, s *openapi.Schema) status {
	return status{code: strconv.Itoa(code), res: &openapi.Response{Description: description,
		Content: map[string]*openapi.MediaType{ct: {Schema: s}}}}
}

// replies collects responses by status.
func replies(ss ...status) map[string]*openapi.Response {
	out := map[string]*openapi.Response{}
	for _, s := range ss {
		out[s.code] = s.res
	}
	return out
}

// dataOf is the schema of {"data": s}.
func dataOf(s *openapi.Schema) *openapi.Schema { return openapi.DataOf(s) }

// obj is a closed object schema: every property required.
func obj(props map[string]*openapi.Schema) *openapi.Schema {
	req := make([]string, 0, len(props))
	for k := range props {
		req = append(req, k)
	}
	sort.Strings(req)
	return openapi.Object(props, req...)
}

// anyObject is an object of any properties.
func anyObject(description string) *openapi.Schema {
	return &openapi.Schema{Type: "object", Description: description}
}

// str, integer and boolean are scalar schemas.
func str() *openapi.Schema     { return &openapi.Schema{Type: "string"} }
func integer() *openapi.Schema { return &openapi.Schema{Type: "integer"} }
func boolean() *openapi.Schema { return &openapi.Schema{Type: "boolean"} }

// query is an optional query parameter of schema s.
func query(name, description string, s *openapi.Schema) *openapi.Parameter {
	return &openapi.Parameter{Name: name, In: "query", Description: description, Schema: s}
}

// schemaReflector derives response schemas from the Go types handlers send.
var schemaReflector = &openapi.Reflector{}

// schemaOf is the schema of the JSON encoding of a T.
func schemaOf[T any]() *openapi.Schema {
	return schemaReflector.Schema(reflect.TypeFor[T](), openapi.Read)
}

// strictNote describes the bodies handlers decode strictly.
const strictNote = "Keys match ignoring case, as in Go's encoding/json; unknown keys and keys given twice are refused (400)."

// strictObject is the schema of a JSON object a handler decodes strictly
// (decodeStrict): props, of which required must be present. It does not
// forbid other properties: the decoder matches keys ignoring case, which
// JSON Schema cannot say, and refuses unknown ones itself.
func strictObject(props map[string]*openapi.Schema, required ...string) *openapi.Schema {
	s := openapi.OpenObject(props, required...)
	s.Description = strictNote
	return s
}

// inputOf is the schema of a T a handler decodes strictly (decodeStrict,
// decodeFields): its fields, none required, null allowed (it leaves a
// field zero); see strictObject.
func inputOf[T any]() *openapi.Schema {
	s := schemaReflector.Schema(reflect.TypeFor[T](), openapi.Input)
	if len(s.AnyOf) == 0 {
		if t, ok := s.Type.([]string); ok && len(t) == 2 && t[1] == "null" {
			c := *s
			c.Type = t[0]
			s = &c
		}
	}
	if s.Description == "" {
		c := *s
		c.Description = strictNote
		s = &c
	}
	return s
}

// --- the document ---

// OpenAPI returns the OpenAPI document of every route Mount registers,
// with every DocType: what App.OpenAPI and `server openapi` write.
func (s *Server) OpenAPI() ([]byte, error) {
	return s.OpenAPIFor(s.Echo(), nil)
}

// OpenAPIFor returns the OpenAPI document of the routes of e, on which s
// was mounted (app routes added to e besides appear as generic
// operations), with the DocTypes for which visible returns true (nil:
// all).
func (s *Server) OpenAPIFor(e *echo.Echo, visible func(*doctype.DocType) bool) ([]byte, error) {
	doc := s.buildOpenAPI(e, visible)
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: marshal document: %w", err)
	}
	return b, nil
}

// openAPIOptions are the document's options from deps.
func (s *Server) openAPIOptions() openapi.Options {
	d := s.deps
	has := func(name string) bool { return slices.Contains(d.Config.Auth.Strategies, name) }
	sec := openapi.Security{Bearer: has("bearer"), Basic: has("basic")}
	if has("session_cookie") {
		sec.SessionCookie = d.Config.Auth.Session.CookieName
		sec.CSRFHeader = HeaderCSRF
	}
	if has("api_key") {
		sec.APIKeyHeader = auth.HeaderAPIKey
	}
	o := d.OpenAPI
	return openapi.Options{Title: o.Title, Version: o.Version, Description: o.Description, Servers: o.Servers, Security: sec}
}

// buildOpenAPI describes every route of e: those the bind functions
// described as they did, and any other (an app's) as a generic operation.
func (s *Server) buildOpenAPI(e *echo.Echo, visible func(*doctype.DocType) bool) *openapi.Document {
	doc := openapi.New(s.openAPIOptions())
	var dts []*doctype.DocType
	var names map[string]openapi.DocTypeSchemas
	if s.deps.Registry != nil {
		dts, names = doc.AddDocTypes(s.deps.Registry, visible)
	}
	routes := e.Routes()
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].Path != routes[j].Path {
			return routes[i].Path < routes[j].Path
		}
		return routes[i].Method < routes[j].Method
	})
	for _, r := range routes {
		if r.Method == echo.RouteNotFound {
			continue
		}
		path := OpenAPIPathOf(r.Path)
		d, ok := s.docs.get(r.Method, r.Path)
		if !ok {
			d = route{tag: "App", summary: r.Method + " " + path, access: optional,
				description: "A route of the app's own, without a description: its body and answers are not documented.",
				responses:   replies(reply(http.StatusOK, "success", &openapi.Schema{}))}
		}
		op := &openapi.Operation{
			Tags:        []string{d.tag},
			Summary:     d.summary,
			Description: d.description,
			OperationID: operationID(r.Method, r.Path),
			Parameters:  slices.Clone(d.params),
			RequestBody: d.body,
			Responses:   map[string]*openapi.Response{},
		}
		if op.Tags[0] == "" {
			op.Tags = nil
		}
		for code, res := range d.responses {
			op.Responses[code] = res
		}
		if d.access == signedIn && op.Responses["401"] == nil {
			op.Responses["401"] = openapi.ErrorRef()
		}
		unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		switch d.access {
		case public:
			op.Security = &[]openapi.SecurityRequirement{}
		case optional:
			sec := append([]openapi.SecurityRequirement{{}}, doc.UserSecurity(unsafe)...)
			op.Security = &sec
		default:
			if unsafe {
				sec := doc.UserSecurity(true)
				op.Security = &sec
			}
		}
		doc.Add(r.Method, path, op)
		if d.expand != nil {
			d.expand(doc, dts, names)
		}
	}
	return doc
}

// OpenAPIPathOf turns an Echo route path into an OpenAPI path: ":name"
// segments become "{name}" and a "*" wildcard becomes "{path}" (the rest
// of the path).
func OpenAPIPathOf(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		switch {
		case strings.HasPrefix(seg, ":"):
			segs[i] = "{" + seg[1:] + "}"
		case seg == "*":
			segs[i] = "{path}"
		case strings.HasSuffix(seg, "*"):
			segs[i] = seg[:len(seg)-1] + "{path}"
		}
	}
	return strings.Join(segs, "/")
}

// operationID is a route's operation id: its method and path in camel
// case ("getApiV1ResourceDoctypeName").
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	up := true
	for _, c := range path {
		switch {
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'):
			if up && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			b.WriteRune(c)
			up = false
		default:
			up = true
		}
	}
	return b.String()
}

// --- the route ---

// openAPIHandler serves the document.
type openAPIHandler struct {
	server *Server
	echo   *echo.Echo
	expose string
	// cache holds documents by the DocTypes they show.
	mu    sync.Mutex
	cache map[string][]byte
	// readers remembers what each principal may read (see readable); sets
	// holds the distinct sets, shared by principals who may read the same.
	readers map[string]readableSet
	sets    map[string]map[string]bool
}

// maxCachedDocuments bounds the cache: one document per set of readable
// DocTypes, of which an app has few.
const maxCachedDocuments = 64

// bindOpenAPI registers GET /openapi.json as [openapi] expose says:
// "authenticated" (default) for signed-in users, each seeing only the
// DocTypes they may read, "public" for anyone, "off" not at all.
func bindOpenAPI(e *echo.Echo, api *echo.Group, s *Server, docs *routeDocs) {
	expose := s.deps.OpenAPI.Expose
	if expose == "" {
		expose = OpenAPIAuthenticated
	}
	h := &openAPIHandler{server: s, echo: e, expose: expose, cache: map[string][]byte{}, readers: map[string]readableSet{}, sets: map[string]map[string]bool{}}
	d := route{tag: "Meta", summary: "This OpenAPI document",
		responses: replies(reply(http.StatusOK, "the OpenAPI 3.1 document", anyObject("an OpenAPI 3.1 document")))}
	switch expose {
	case OpenAPIOff:
		return
	case OpenAPIPublic:
		d.access = public
		d.description = "Every route and every DocType."
		docs.add(api.GET("/openapi.json", h.get), d)
	default:
		d.description = "Every route, and the DocTypes the caller may read."
		docs.add(api.GET("/openapi.json", h.get, RequireUser), d)
	}
}

func (h *openAPIHandler) get(c echo.Context) error {
	ctx := c.Request().Context()
	var visible func(*doctype.DocType) bool
	key := "*"
	if h.expose != OpenAPIPublic {
		var err error
		if visible, key, err = h.readable(ctx); err != nil {
			return err
		}
	}
	h.mu.Lock()
	b, ok := h.cache[key]
	h.mu.Unlock()
	if !ok {
		var err error
		if b, err = h.server.OpenAPIFor(h.echo, visible); err != nil {
			return err
		}
		h.mu.Lock()
		if len(h.cache) >= maxCachedDocuments {
			clear(h.cache)
		}
		h.cache[key] = b
		h.mu.Unlock()
	}
	hdr := c.Response().Header()
	if h.expose == OpenAPIPublic {
		hdr.Set(echo.HeaderCacheControl, "no-cache")
	} else {
		// Each caller sees their own DocTypes: no shared cache may keep it.
		hdr.Set(echo.HeaderCacheControl, "private, no-cache")
		hdr.Set(echo.HeaderVary, h.server.vary)
	}
	return c.JSONBlob(http.StatusOK, b)
}

// readableTTL is how long the DocTypes a caller may read are remembered:
// long enough that a page of the reference (which fetches the document
// once or twice) asks the policy once, short enough that a granted role
// shows within seconds. Access itself is checked by every route; this set
// only decides what the description lists.
const readableTTL = 10 * time.Second

// maxReadableEntries bounds the remembered sets (one per signed-in
// principal in the last readableTTL).
const maxReadableEntries = 4096

// readableSet is what one principal may read: the names (sorted, joined
// by NUL: the key of the document cache), shared by every principal who
// may read the same, and when to ask again.
type readableSet struct {
	key     string
	names   map[string]bool
	expires time.Time
}

// readable returns the DocTypes the caller may read (as the resource API
// checks a list: the read permission on the DocType) as a predicate, and a
// key naming that set. It is remembered per principal for readableTTL, so
// the policy is not asked once per DocType on every fetch.
func (h *openAPIHandler) readable(ctx context.Context) (func(*doctype.DocType) bool, string, error) {
	deps := h.server.deps
	if deps.Registry == nil || deps.Resources == nil {
		return func(*doctype.DocType) bool { return false }, "", nil
	}
	who, cacheable := principalKey(ctx)
	now := time.Now()
	h.mu.Lock()
	e, ok := h.readers[who]
	h.mu.Unlock()
	if !cacheable || !ok || now.After(e.expires) {
		can, err := deps.Resources.Readable(ctx, deps.Registry.All())
		if err != nil {
			return nil, "", fmt.Errorf("openapi: which DocTypes may the caller read: %w", err)
		}
		var names []string
		for n, ok := range can {
			if ok {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		e = readableSet{key: strings.Join(names, "\x00"), expires: now.Add(readableTTL)}
		h.mu.Lock()
		if len(h.readers) >= maxReadableEntries {
			for k, old := range h.readers {
				if now.After(old.expires) {
					delete(h.readers, k)
				}
			}
			if len(h.readers) >= maxReadableEntries {
				clear(h.readers)
			}
		}
		if len(h.sets) >= maxReadableEntries {
			clear(h.sets) // the sets still remembered keep their maps
		}
		if shared, ok := h.sets[e.key]; ok {
			e.names = shared
		} else {
			e.names = make(map[string]bool, len(names))
			for _, n := range names {
				e.names[n] = true
			}
			h.sets[e.key] = e.names
		}
		if cacheable {
			h.readers[who] = e
		}
		h.mu.Unlock()
	}
	return func(dt *doctype.DocType) bool { return e.names[dt.Name] }, e.key, nil
}

// principalKey names what a permission check depends on: the tenant, the
// user, their roles, their attributes (which policies may read) and the
// credential's scopes, as a SHA-256 of their JSON (bounded, and no two
// principals spell the same). It is not cacheable when the attributes do
// not encode as JSON.
func principalKey(ctx context.Context) (string, bool) {
	u := ports.UserFrom(ctx)
	if u == nil {
		return "", false
	}
	roles := slices.Clone(u.AllRoles())
	sort.Strings(roles)
	scopes := slices.Clone(u.Scopes)
	sort.Strings(scopes)
	b, err := json.Marshal(struct {
		Tenant, User  string
		Roles, Scopes []string
		Attributes    map[string]any // keys sorted
	}{ports.TenantIDFrom(ctx), u.ID, roles, scopes, u.Attributes})
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(b)
	return string(sum[:]), true
}
