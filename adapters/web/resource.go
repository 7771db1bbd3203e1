package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// param returns a path parameter, unescaped.
func param(c echo.Context, name string) string {
	v := c.Param(name)
	if c.Request().URL.RawPath != "" {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
	}
	return v
}

var errNotJSON = echo.NewHTTPError(http.StatusUnsupportedMediaType, "request body must be sent as Content-Type: application/json")

// readJSON reads a JSON request body of at most app.max_body_bytes. A body
// declared as anything but JSON is refused (415): HTML forms cannot forge it.
func (s *Server) readJSON(c echo.Context) ([]byte, error) {
	req := c.Request()
	ct := req.Header.Get(echo.HeaderContentType)
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return nil, errNotJSON
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, s.deps.Config.App.MaxBodyBytes))
	if err == nil && ct == "" && len(body) > 0 {
		// A body without a type is what fetch() sends cross-site without a CORS
		// preflight: refuse it like a form.
		return nil, errNotJSON
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, core.Publicf(core.ErrPayloadTooBig, "request body exceeds %d bytes", mbe.Limit)
		}
		return nil, core.Public(core.ErrValidation, "could not read request body")
	}
	return body, nil
}

// docJSON writes {"data": doc} with the document's version as ETag.
func docJSON(c echo.Context, status int, dt *doctype.DocType, doc any, fields []string) error {
	raw, err := dt.MarshalDoc(doc, fields)
	if err != nil {
		return err
	}
	if b, err := doctype.BaseOf(doc); err == nil {
		c.Response().Header().Set("ETag", `"`+strconv.FormatInt(b.Version, 10)+`"`)
	}
	return c.JSONBlob(status, wrapData(raw))
}

func wrapData(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+10)
	out = append(out, `{"data":`...)
	out = append(out, raw...)
	return append(out, '}')
}

func (s *Server) doctypeOf(c echo.Context) (*doctype.DocType, error) {
	return s.deps.Resources.DocType(param(c, "doctype"))
}

func (s *Server) get(c echo.Context) error {
	dt, err := s.doctypeOf(c)
	if err != nil {
		return err
	}
	fields, err := parseFields(c.QueryParam("fields"))
	if err != nil {
		return err
	}
	if err := s.deps.Resources.CheckFields(dt, fields); err != nil {
		return err
	}
	doc, err := s.deps.Resources.Get(c.Request().Context(), dt.Name, param(c, "name"))
	if err != nil {
		return err
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

func (s *Server) list(c echo.Context) error {
	dt, err := s.doctypeOf(c)
	if err != nil {
		return err
	}
	p, err := parseListParams(c.QueryParams())
	if err != nil {
		return err
	}
	res, err := s.deps.Resources.List(c.Request().Context(), dt.Name, p)
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

func (s *Server) create(c echo.Context) error {
	dt, err := s.doctypeOf(c)
	if err != nil {
		return err
	}
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	doc, err := s.deps.Resources.Create(c.Request().Context(), dt.Name, body)
	if err != nil {
		return err
	}
	b, _ := doctype.BaseOf(doc)
	c.Response().Header().Set(echo.HeaderLocation, APIPrefix+"/resource/"+url.PathEscape(dt.Name)+"/"+url.PathEscape(b.Name))
	return docJSON(c, http.StatusCreated, dt, doc, nil)
}

func (s *Server) patch(c echo.Context) error {
	dt, err := s.doctypeOf(c)
	if err != nil {
		return err
	}
	ifMatch, err := parseIfMatch(c.Request().Header.Get("If-Match"))
	if err != nil {
		return err
	}
	body, err := s.readJSON(c)
	if err != nil {
		return err
	}
	doc, err := s.deps.Resources.Update(c.Request().Context(), dt.Name, param(c, "name"), body, ifMatch)
	if err != nil {
		return err
	}
	return docJSON(c, http.StatusOK, dt, doc, nil)
}

func (s *Server) delete(c echo.Context) error {
	dt, err := s.doctypeOf(c)
	if err != nil {
		return err
	}
	name := param(c, "name")
	if err := s.deps.Resources.Delete(c.Request().Context(), dt.Name, name); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"data": map[string]any{"doctype": dt.Name, "name": name, "deleted": true}})
}

// parseIfMatch reads a version from If-Match: "3" (or 3).
func parseIfMatch(h string) (*int64, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return nil, nil
	}
	// If-Match compares strongly: a weak tag never matches.
	n, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || n < 1 || strings.HasPrefix(h, "W/") {
		return nil, core.Invalid("If-Match", "must be the document version, such as \"3\"")
	}
	return &n, nil
}

// parseListParams reads filters, fields, order_by, limit and offset.
//
//	filters   JSON: [["status","=","Paid"],["amount",">",100]] or {"status":"Paid","amount":[">",100]}
//	fields    JSON list or comma-separated: ["name","amount"] / name,amount
//	order_by  "amount desc, name" or "-amount,name"
//	limit     1…1000 (default 20); offset ≥ 0
//	skip_total=true  does not count all matches (total is -1): faster on large tables
func parseListParams(q url.Values) (resource.ListParams, error) {
	var p resource.ListParams
	verr := &core.ValidationError{}
	if v := q.Get("filters"); v != "" {
		fs, err := parseFilters(v)
		if err != nil {
			verr.Add("filters", err.Error())
		}
		p.Filters = fs
	}
	fields, err := parseFields(q.Get("fields"))
	if err != nil {
		verr.Add("fields", "must be a JSON list of field names or a comma-separated list")
	}
	p.Fields = fields
	if v := q.Get("order_by"); v != "" {
		orders, err := parseOrder(v)
		if err != nil {
			verr.Add("order_by", err.Error())
		}
		p.Orders = orders
	}
	intParam := func(names ...string) int {
		for _, n := range names {
			if v := q.Get(n); v != "" {
				i, err := strconv.Atoi(v)
				if err != nil {
					verr.Add(names[0], "must be an integer")
				}
				return i
			}
		}
		return 0
	}
	p.Limit = intParam("limit", "limit_page_length")
	p.Offset = intParam("offset", "limit_start")
	if v := q.Get("skip_total"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			verr.Add("skip_total", "must be true or false")
		}
		p.SkipTotal = b
	}
	return p, verr.Err()
}

func parseFields(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if strings.HasPrefix(v, "[") {
		var fs []string
		if err := json.Unmarshal([]byte(v), &fs); err != nil {
			return nil, core.Invalid("fields", "must be a JSON list of field names")
		}
		return fs, nil
	}
	var fs []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			fs = append(fs, f)
		}
	}
	return fs, nil
}

type paramError string

func (e paramError) Error() string { return string(e) }

func parseOrder(v string) ([]ports.Order, error) {
	var out []ports.Order
	for _, part := range strings.Split(v, ",") {
		words := strings.Fields(part)
		if len(words) == 0 {
			continue
		}
		o := ports.Order{Field: words[0]}
		if strings.HasPrefix(o.Field, "-") {
			o.Field, o.Desc = o.Field[1:], true
		}
		if len(words) > 2 {
			return nil, paramError("each part must be \"field\" or \"field asc|desc\"")
		}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				o.Desc = true
			default:
				return nil, paramError("direction must be asc or desc, not " + strconv.Quote(words[1]))
			}
		}
		out = append(out, o)
	}
	return out, nil
}

var opAliases = map[string]ports.Operator{
	"=": ports.OpEq, "==": ports.OpEq, "eq": ports.OpEq,
	"!=": ports.OpNe, "<>": ports.OpNe, "ne": ports.OpNe,
	"<": ports.OpLt, "lt": ports.OpLt, "<=": ports.OpLe, "lte": ports.OpLe,
	">": ports.OpGt, "gt": ports.OpGt, ">=": ports.OpGe, "gte": ports.OpGe,
	"in": ports.OpIn, "not in": ports.OpNotIn, "not-in": ports.OpNotIn, "not_in": ports.OpNotIn, "nin": ports.OpNotIn,
	"like":    ports.OpLike,
	"is null": ports.OpIsNull, "is-null": ports.OpIsNull, "is_null": ports.OpIsNull,
	"is not null": ports.OpIsNotNull, "is-not-null": ports.OpIsNotNull, "is_not_null": ports.OpIsNotNull,
}

func parseOp(s string, value any) (ports.Operator, any, error) {
	key := strings.Join(strings.Fields(strings.ToLower(s)), " ")
	if key == "is" { // Frappe: ["field", "is", "set" | "not set"]
		switch value {
		case "set":
			return ports.OpIsNotNull, nil, nil
		case "not set":
			return ports.OpIsNull, nil, nil
		}
		return "", nil, paramError(`"is" takes "set" or "not set"`)
	}
	op, ok := opAliases[key]
	if !ok {
		return "", nil, paramError("unknown operator " + strconv.Quote(s))
	}
	return op, value, nil
}

func parseFilters(v string) ([]ports.Filter, error) {
	var raw any
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber() // large integers stay exact
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return nil, paramError(`must be JSON: [["field","op",value], …] or {"field": value, …}`)
	}
	var out []ports.Filter
	switch t := raw.(type) {
	case []any:
		for _, item := range t {
			cond, ok := item.([]any)
			if ok && len(cond) == 4 { // Frappe's [doctype, field, op, value]
				cond = cond[1:]
			}
			if !ok || len(cond) != 3 {
				return nil, paramError(`each filter must be ["field", "op", value]`)
			}
			field, ok1 := cond[0].(string)
			opName, ok2 := cond[1].(string)
			if !ok1 || !ok2 {
				return nil, paramError(`each filter must be ["field", "op", value]`)
			}
			op, val, err := parseOp(opName, cond[2])
			if err != nil {
				return nil, err
			}
			out = append(out, ports.Filter{Field: field, Op: op, Value: val})
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, field := range keys {
			val := t[field]
			if pair, ok := val.([]any); ok && len(pair) == 2 {
				if opName, ok := pair[0].(string); ok {
					op, v, err := parseOp(opName, pair[1])
					if err != nil {
						return nil, err
					}
					out = append(out, ports.Filter{Field: field, Op: op, Value: v})
					continue
				}
			}
			out = append(out, ports.Filter{Field: field, Op: ports.OpEq, Value: val})
		}
	default:
		return nil, paramError(`must be a JSON list or object`)
	}
	return out, nil
}
