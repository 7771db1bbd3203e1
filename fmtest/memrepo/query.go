package memrepo

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// vkind is how a stored value compares: as SQL compares its column.
type vkind uint8

const (
	vNull vkind = iota
	vBool
	vNumber
	vString
	vTime
)

// value is a field or filter value ready for comparison.
type value struct {
	kind vkind
	s    string
	n    *big.Rat
	b    bool
	t    time.Time
}

// kindOf returns how values of a field type compare: numbers (doctype.Decimal
// included) by value, times as instants, anything else SQL keeps as text
// (lists, maps, Valuers) as its text.
func kindOf(t reflect.Type) vkind {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return vTime
	case decimalType:
		return vNumber
	}
	switch t.Kind() {
	case reflect.Bool:
		return vBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return vNumber
	}
	return vString
}

// fieldValue returns the value of a document's field; nil pointers are NULL.
func fieldValue(fv reflect.Value) value {
	for fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface {
		if fv.IsNil() {
			return value{}
		}
		fv = fv.Elem()
	}
	switch x := fv.Interface().(type) {
	case time.Time:
		return value{kind: vTime, t: x}
	case doctype.Decimal:
		return value{kind: vNumber, n: x.Rat()}
	}
	switch fv.Kind() {
	case reflect.String:
		return value{kind: vString, s: fv.String()}
	case reflect.Bool:
		return value{kind: vBool, b: fv.Bool()}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return value{kind: vNumber, n: new(big.Rat).SetInt64(fv.Int())}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return value{kind: vNumber, n: new(big.Rat).SetUint64(fv.Uint())}
	case reflect.Float32, reflect.Float64:
		if n := new(big.Rat).SetFloat64(fv.Float()); n != nil {
			return value{kind: vNumber, n: n}
		}
		return value{}
	}
	s, err := text(fv.Interface())
	if err != nil {
		return value{}
	}
	return value{kind: vString, s: s}
}

// text is how SQL stores a value that is neither a number, a bool nor a
// time: a Valuer's value, or JSON.
func text(v any) (string, error) {
	if dv, ok := v.(driver.Valuer); ok {
		val, err := dv.Value()
		if err != nil {
			return "", err
		}
		switch x := val.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case nil:
			return "", fmt.Errorf("NULL")
		}
		return fmt.Sprint(val), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// coerce converts a filter value to the kind of the field it is compared
// with; nil (or a nil pointer) is NULL.
func coerce(f *doctype.Field, v any) (value, error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return value{}, nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return value{}, nil
	}
	x := rv.Interface()
	bad := func(what string) (value, error) {
		return value{}, core.Invalidf(f.Name, "%v is not %s", x, what)
	}
	switch kindOf(f.Type) {
	case vTime:
		switch tm := x.(type) {
		case time.Time:
			return value{kind: vTime, t: tm}, nil
		case string:
			if p, err := time.Parse(time.RFC3339Nano, tm); err == nil {
				return value{kind: vTime, t: p}, nil
			}
		}
		return bad("a time")
	case vNumber:
		if d, ok := x.(doctype.Decimal); ok {
			return value{kind: vNumber, n: d.Rat()}, nil
		}
		switch rv.Kind() {
		case reflect.String:
			if d, err := doctype.ParseDecimal(rv.String()); err == nil {
				return value{kind: vNumber, n: d.Rat()}, nil
			}
			return bad("a number")
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			if n := fieldValue(rv); n.kind == vNumber {
				return n, nil
			}
		}
		return bad("a number")
	case vBool:
		switch rv.Kind() {
		case reflect.Bool:
			return value{kind: vBool, b: rv.Bool()}, nil
		case reflect.String:
			if b, err := strconv.ParseBool(rv.String()); err == nil {
				return value{kind: vBool, b: b}, nil
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if n := rv.Int(); n == 0 || n == 1 {
				return value{kind: vBool, b: n == 1}, nil
			}
		}
		return bad("true or false")
	}
	// A text column.
	switch rv.Kind() {
	case reflect.String:
		return value{kind: vString, s: rv.String()}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Bool:
		return value{kind: vString, s: fmt.Sprint(x)}, nil
	case reflect.Struct:
		if d, ok := x.(doctype.Decimal); ok {
			return value{kind: vString, s: d.String()}, nil
		}
	}
	s, err := text(x)
	if err != nil {
		return bad("a text value")
	}
	return value{kind: vString, s: s}, nil
}

// compare orders two non-NULL values of one kind: -1, 0 or +1.
func compare(a, b value) int {
	if a.kind != b.kind {
		if a.kind < b.kind {
			return -1
		}
		return 1
	}
	switch a.kind {
	case vBool:
		switch {
		case a.b == b.b:
			return 0
		case b.b:
			return -1
		}
		return 1
	case vNumber:
		return a.n.Cmp(b.n)
	case vString:
		return strings.Compare(a.s, b.s)
	case vTime:
		return a.t.Compare(b.t)
	}
	return 0
}

// compareNullsFirst is compare with NULL before every value (SQLite's order).
func compareNullsFirst(a, b value) int {
	switch {
	case a.kind == vNull && b.kind == vNull:
		return 0
	case a.kind == vNull:
		return -1
	case b.kind == vNull:
		return 1
	}
	return compare(a, b)
}

// pred tells whether a document (the struct, not its pointer) matches.
type pred func(doc reflect.Value) bool

func matchNone(reflect.Value) bool { return false }

// compile returns the conjunction of filters; nil matches every document.
func (t *table) compile(filters []ports.Filter) (pred, error) {
	var ps []pred
	for _, f := range filters {
		p, err := t.filter(f)
		if err != nil {
			return nil, err
		}
		if p != nil {
			ps = append(ps, p)
		}
	}
	switch len(ps) {
	case 0:
		return nil, nil
	case 1:
		return ps[0], nil
	}
	return func(doc reflect.Value) bool {
		for _, p := range ps {
			if !p(doc) {
				return false
			}
		}
		return true
	}, nil
}

// group is the disjunction of groups: no group matches nothing, an empty
// group everything.
func (t *table) group(groups [][]ports.Filter) (pred, error) {
	if len(groups) == 0 {
		return matchNone, nil
	}
	ors := make([]pred, 0, len(groups))
	all := false
	for _, g := range groups {
		p, err := t.compile(g)
		if err != nil {
			return nil, err
		}
		if p == nil {
			all = true
		}
		ors = append(ors, p)
	}
	if all {
		return nil, nil
	}
	return func(doc reflect.Value) bool {
		for _, p := range ors {
			if p(doc) {
				return true
			}
		}
		return false
	}, nil
}

// filter compiles one filter; nil matches every document. SQL's three-valued
// logic holds: a NULL field matches no comparison, in or like.
func (t *table) filter(f ports.Filter) (pred, error) {
	if f.IsGroup() {
		return t.group(f.Any)
	}
	fd, ok := t.fields[f.Field]
	if !ok {
		return nil, core.Invalid(f.Field, "unknown field")
	}
	get := func(doc reflect.Value) value { return fieldValue(doc.FieldByIndex(fd.Index)) }
	isNull := func(doc reflect.Value) bool { return get(doc).kind == vNull }
	switch f.Op {
	case ports.OpEq, ports.OpNe, ports.OpLt, ports.OpLe, ports.OpGt, ports.OpGe:
		want, err := coerce(fd, f.Value)
		if err != nil {
			return nil, err
		}
		if want.kind == vNull { // = NULL is IS NULL, != NULL IS NOT NULL (as GORM writes them)
			switch f.Op {
			case ports.OpEq:
				return isNull, nil
			case ports.OpNe:
				return func(doc reflect.Value) bool { return !isNull(doc) }, nil
			}
			return matchNone, nil
		}
		holds := map[ports.Operator]func(c int) bool{
			ports.OpEq: func(c int) bool { return c == 0 },
			ports.OpNe: func(c int) bool { return c != 0 },
			ports.OpLt: func(c int) bool { return c < 0 },
			ports.OpLe: func(c int) bool { return c <= 0 },
			ports.OpGt: func(c int) bool { return c > 0 },
			ports.OpGe: func(c int) bool { return c >= 0 },
		}[f.Op]
		return func(doc reflect.Value) bool {
			v := get(doc)
			return v.kind != vNull && holds(compare(v, want))
		}, nil
	case ports.OpIn, ports.OpNotIn:
		rv := reflect.ValueOf(f.Value)
		if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, core.Invalidf(f.Field, "%s needs a list", f.Op)
		}
		if rv.Len() == 0 {
			if f.Op == ports.OpIn {
				return matchNone, nil // in () matches nothing
			}
			return nil, nil // not in () matches everything
		}
		vals := make([]value, 0, rv.Len())
		hasNull := false
		for i := range rv.Len() {
			v, err := coerce(fd, rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			if v.kind == vNull {
				hasNull = true
				continue
			}
			vals = append(vals, v)
		}
		in := func(v value) bool {
			for _, w := range vals {
				if compare(v, w) == 0 {
					return true
				}
			}
			return false
		}
		if f.Op == ports.OpIn {
			return func(doc reflect.Value) bool {
				v := get(doc)
				return v.kind != vNull && in(v)
			}, nil
		}
		if hasNull { // x not in (…, NULL) is never true
			return matchNone, nil
		}
		return func(doc reflect.Value) bool {
			v := get(doc)
			return v.kind != vNull && !in(v)
		}, nil
	case ports.OpLike:
		pattern, ok := f.Value.(string)
		if !ok {
			return nil, core.Invalid(f.Field, "like needs a text pattern")
		}
		if kindOf(fd.Type) != vString {
			return nil, core.Invalid(f.Field, "like needs a text field")
		}
		re := likeRegexp(pattern)
		return func(doc reflect.Value) bool {
			v := get(doc)
			return v.kind != vNull && re.MatchString(v.s)
		}, nil
	case ports.OpIsNull:
		return isNull, nil
	case ports.OpIsNotNull:
		return func(doc reflect.Value) bool { return !isNull(doc) }, nil
	}
	return nil, core.Invalidf(f.Field, "unknown operator %q", f.Op)
}

// likeRegexp turns a LIKE pattern (% any run, _ one character, no escape)
// into a case-insensitive regular expression.
func likeRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?is)\A`)
	for _, c := range pattern {
		switch c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// orderKey is one sort key of a list.
type orderKey struct {
	field *doctype.Field
	desc  bool
}

// orderKeys returns the sort keys of orders (the DocType's default order when
// none), ending with name so that ties never make pages overlap; its
// direction follows the last key's, as in adapters/db.
func (t *table) orderKeys(orders []ports.Order) ([]orderKey, error) {
	if len(orders) == 0 {
		orders = t.dt.DefaultOrder
	}
	keys := make([]orderKey, 0, len(orders)+1)
	hasName := false
	for _, o := range orders {
		f, ok := t.fields[o.Field]
		if !ok {
			return nil, core.Invalidf(o.Field, "cannot sort by unknown field")
		}
		hasName = hasName || o.Field == doctype.FieldName
		keys = append(keys, orderKey{field: f, desc: o.Desc})
	}
	if !hasName {
		keys = append(keys, orderKey{field: t.fields[doctype.FieldName], desc: orders[len(orders)-1].Desc})
	}
	return keys, nil
}
