package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// Bounds of the raw list parameters, so that parsing them stays cheap; the
// parsed values are bounded by core/resource (resource.MaxFilters …). Each is
// well above what the largest accepted value needs: MaxFilters filters of
// MaxFilterValueBytes each, an "in" list of MaxFilterValues short values,
// MaxFields field names, MaxOrderTerms sort terms.
const (
	maxFiltersParamBytes = 64 << 10
	maxFieldsParamBytes  = 16 << 10
	maxOrderParamBytes   = 4 << 10
)

// tooLong returns the error of a raw parameter longer than max bytes.
func tooLong(v string, max int) error {
	if len(v) > max {
		return paramError(fmt.Sprintf("must be at most %d bytes", max))
	}
	return nil
}

// parseListParams reads filters, fields, order_by, limit and offset.
//
//	filters   JSON: [["status","=","Paid"],["amount",">",100]] or {"status":"Paid","amount":[">",100]}
//	fields    JSON list or comma-separated: ["name","amount"] / name,amount
//	order_by  "amount desc, name" or "-amount,name"
//	limit     1…1000 (default 20 when absent); offset ≥ 0
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
		verr.Add("fields", err.Error())
	}
	p.Fields = fields
	if v := q.Get("order_by"); v != "" {
		orders, err := parseOrder(v)
		if err != nil {
			verr.Add("order_by", err.Error())
		}
		p.Orders = orders
	}
	intParam := func(names ...string) (int, bool) {
		for _, n := range names {
			if v := q.Get(n); v != "" {
				i, err := strconv.Atoi(v)
				if err != nil {
					verr.Add(names[0], "must be an integer")
				}
				return i, err == nil
			}
		}
		return 0, false
	}
	limit, given := intParam("limit", "limit_page_length")
	if given && limit == 0 { // an absent limit is the default; 0 is no page at all
		verr.Add("limit", fmt.Sprintf("must be between 1 and %d (leave it out for %d)", resource.MaxLimit, resource.DefaultLimit))
	}
	p.Limit = limit
	p.Offset, _ = intParam("offset", "limit_start")
	if v := q.Get("skip_total"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			verr.Add("skip_total", "must be true or false")
		}
		p.SkipTotal = b
	}
	return p, verr.Err()
}

// parseFields reads a projection: a JSON list or comma-separated names.
// Errors are paramErrors.
func parseFields(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if err := tooLong(v, maxFieldsParamBytes); err != nil {
		return nil, err
	}
	if strings.HasPrefix(v, "[") {
		var fs []string
		if err := json.Unmarshal([]byte(v), &fs); err != nil {
			return nil, paramError("must be a JSON list of field names or a comma-separated list")
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
	if err := tooLong(v, maxOrderParamBytes); err != nil {
		return nil, err
	}
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

// opKey is an operator name as opAliases spells it: lower case, single spaces.
func opKey(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// isOperator reports whether s names an operator (Frappe's "is" included).
func isOperator(s string) bool {
	key := opKey(s)
	_, ok := opAliases[key]
	return ok || key == "is"
}

// parseOp reads operator s and its value; hasValue is false when the filter
// gives none, which only "is null" and "is not null" accept.
func parseOp(s string, value any, hasValue bool) (ports.Operator, any, error) {
	key := opKey(s)
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
	if !hasValue && op != ports.OpIsNull && op != ports.OpIsNotNull {
		return "", nil, paramError(strconv.Quote(s) + ` needs a value: ["field", "op", value]`)
	}
	return op, value, nil
}

// filterForms is the error of a filter of none of the list forms.
const filterForms = `each filter must be ["field", "op", value], or ["field", "is null"] / ["field", "is not null"]`

// parseFilters reads the filters parameter, in any of the forms README
// documents: a list of ["field", "op", value] (Frappe's [doctype, field, op,
// value] too), ["field", "is null"] and ["field", "is", "set" | "not set"];
// or an object of field: value, field: ["op", value] and field: ["is null"].
func parseFilters(v string) ([]ports.Filter, error) {
	if err := tooLong(v, maxFiltersParamBytes); err != nil {
		return nil, err
	}
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
			if !ok || len(cond) < 2 || len(cond) > 3 {
				return nil, paramError(filterForms)
			}
			field, ok1 := cond[0].(string)
			opName, ok2 := cond[1].(string)
			if !ok1 || !ok2 {
				return nil, paramError(filterForms)
			}
			var val any
			if len(cond) == 3 {
				val = cond[2]
			}
			op, val, err := parseOp(opName, val, len(cond) == 3)
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
			if pair, ok := val.([]any); ok && (len(pair) == 1 || len(pair) == 2) {
				// ["op", value], or ["is null"]. Any other one-element list
				// stays an equality, which the service refuses: a filter
				// value is never a list.
				if opName, ok := pair[0].(string); ok && (len(pair) == 2 || isOperator(opName)) {
					var v any
					if len(pair) == 2 {
						v = pair[1]
					}
					op, v, err := parseOp(opName, v, len(pair) == 2)
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
