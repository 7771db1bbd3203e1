package resource

import (
	"database/sql/driver"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Bounds of a list. Every list parameter is bounded before anything reaches
// the repository, so no client input can make a query the database refuses
// (SQLite stops at an expression depth of 1000, at 32,766 bind parameters and
// at LIKE patterns of 50,000 bytes; PostgreSQL at 65,535 bind parameters).
// Exceeding a bound is a *core.ValidationError naming the parameter and the
// bound, such as field "filters", reason "at most 50 filters".
const (
	// MaxFilters caps the conditions of a list: every condition counts, and so
	// does every OR-group and every condition inside one. With the
	// row-level-security filters the service appends, the ANDed expression
	// stays far below SQLite's depth limit of 1000.
	MaxFilters = 50

	// MaxFilterDepth caps how deep OR-groups (ports.Filter.Any) nest: a group
	// among the filters is at depth 1, a group inside it at depth 2.
	MaxFilterDepth = 3

	// MaxFilterValues caps the values of all filters together: each scalar
	// counts one, and so does every element of an "in" / "not in" list. One
	// "in" list may use them all (doctype.MaxInValues is the same). The
	// client's values plus those of the row-level-security filters and the
	// page bounds stay well under SQLite's 32,766 and PostgreSQL's 65,535 bind
	// parameters.
	MaxFilterValues = 1000

	// MaxFilterValueBytes caps the length of each filter value (a string, or
	// the text of a number), LIKE patterns included: SQLite refuses patterns
	// of 50,000 bytes as too complex, and no field needs a longer comparison.
	MaxFilterValueBytes = 1024

	// MaxOrderTerms caps the sort terms of a list (order_by).
	MaxOrderTerms = 10

	// MaxFields caps the names of a projection (fields); a name may repeat.
	// It is far above the field count of any sensible DocType: asking for no
	// projection returns every field.
	MaxFields = 200
)

// checkBounds checks the counts of p's filters, sort terms and fields and the
// shape of every filter value, adding each violation to verr. It reports
// whether p is within bounds, so that its filters may be coerced.
func checkBounds(p ListParams, verr *core.ValidationError) bool {
	if len(p.Orders) > MaxOrderTerms {
		verr.Add("order_by", fmt.Sprintf("at most %d sort terms", MaxOrderTerms))
	}
	if len(p.Fields) > MaxFields {
		verr.Add("fields", fmt.Sprintf("at most %d fields", MaxFields))
	}
	fb := filterBounds{verr: verr, ok: true}
	fb.walk(p.Filters, 0)
	switch {
	case fb.filters > MaxFilters:
		verr.Add("filters", fmt.Sprintf("at most %d filters", MaxFilters))
	case fb.tooDeep:
		verr.Add("filters", fmt.Sprintf("OR-groups nest at most %d deep", MaxFilterDepth))
	case fb.values > MaxFilterValues:
		verr.Add("filters", fmt.Sprintf("at most %d values in all (each element of an in / not in list counts)", MaxFilterValues))
	}
	return fb.ok && fb.filters <= MaxFilters && !fb.tooDeep && fb.values <= MaxFilterValues &&
		len(p.Orders) <= MaxOrderTerms && len(p.Fields) <= MaxFields
}

// filterBounds walks filters, counting conditions and values and checking
// each value's shape. It stops counting once past MaxFilters, so a huge
// slice from Go code costs no more than a small one.
type filterBounds struct {
	verr    *core.ValidationError
	filters int
	values  int
	tooDeep bool
	// ok is false once a value has been refused.
	ok bool
}

func (b *filterBounds) walk(fs []ports.Filter, depth int) {
	for _, f := range fs {
		if b.filters++; b.filters > MaxFilters {
			return
		}
		if f.IsGroup() {
			if depth+1 > MaxFilterDepth {
				b.tooDeep = true
				return
			}
			for _, g := range f.Any {
				b.walk(g, depth+1)
			}
			continue
		}
		if reason := b.value(f); reason != "" {
			b.verr.Add("filters."+f.Field, reason)
			b.ok = false
		}
	}
}

// value counts f's values and returns why its value is refused, if it is.
func (b *filterBounds) value(f ports.Filter) string {
	switch f.Op {
	case ports.OpIsNull, ports.OpIsNotNull:
		return "" // the value is ignored
	case ports.OpIn, ports.OpNotIn:
		return b.list(f.Op, f.Value)
	}
	size, ok := scalar(f.Value)
	if !ok {
		return `must be a single value (a string, number or boolean), not a list or object; use "in" for a list`
	}
	b.values++
	return tooLong(size)
}

// list counts the elements of an in / not in value: a flat list of scalars,
// or a comma-separated string.
func (b *filterBounds) list(op ports.Operator, v any) string {
	if s, ok := v.(string); ok {
		for _, part := range strings.Split(s, ",") {
			b.values++
			if reason := tooLong(len(strings.TrimSpace(part))); reason != "" {
				return reason
			}
		}
		return ""
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
		if _, ok := scalar(v); !ok {
			return fmt.Sprintf("%s takes a flat list of values", op)
		}
		b.values++
		return "" // the doctype refuses a single value: "needs a list"
	}
	b.values += rv.Len()
	if b.values > MaxFilterValues {
		return "" // counted; the total is reported once
	}
	for i := range rv.Len() {
		size, ok := scalar(rv.Index(i).Interface())
		if !ok {
			return fmt.Sprintf("%s takes a flat list of values, not nested lists or objects", op)
		}
		if reason := tooLong(size); reason != "" {
			return reason
		}
	}
	return ""
}

func tooLong(size int) string {
	if size > MaxFilterValueBytes {
		return fmt.Sprintf("values must be at most %d bytes", MaxFilterValueBytes)
	}
	return ""
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	valuer        = reflect.TypeFor[driver.Valuer]()
)

// isScalarType reports whether t encodes itself as one value (time.Time,
// doctype.Decimal, doctype.StringList …): Go callers may pass such values.
func isScalarType(t reflect.Type) bool {
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || t.Implements(valuer)
}

// scalar reports whether v is a single value, and the length of its text.
func scalar(v any) (size int, ok bool) {
	switch x := v.(type) {
	case nil:
		return 0, true
	case string:
		return len(x), true
	case json.Number:
		return len(x), true
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return 0, true
		}
		if isScalarType(rv.Type()) {
			return 0, true
		}
		rv = rv.Elem()
	}
	if isScalarType(rv.Type()) {
		return 0, true
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.Len(), true
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return 0, true
	}
	return 0, false
}
