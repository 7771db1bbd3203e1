package openapi

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
)

// Direction says whether a schema describes what the server sends (Read)
// or what it accepts (Input). They differ: input decimals may be JSON
// numbers, and every input value may be null (null clears a field).
type Direction int

// The directions of a schema.
const (
	Read Direction = iota
	Input
)

// DecimalPattern is the form of a doctype.Decimal the server sends.
const DecimalPattern = `^-?[0-9]+(\.[0-9]+)?$`

// DecimalInputPattern is the form of a doctype.Decimal given as a string.
const DecimalInputPattern = `^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*$`

var (
	timeType      = reflect.TypeFor[time.Time]()
	decimalType   = reflect.TypeFor[doctype.Decimal]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
	doctypePkg    = decimalType.PkgPath()
)

// Reflector turns Go types into schemas the way encoding/json encodes
// them. Refs maps the struct types that have a schema of their own in the
// document (registered DocTypes: child tables) to their names: a field of
// such a type, or a list of them, refers to that schema instead of
// repeating it.
type Reflector struct {
	// Refs names the read schemas of struct types; InputRefs their input
	// schemas (for a DocType X: "X" and "XCreate").
	Refs, InputRefs map[reflect.Type]string
	// Opaque are struct types described only as "an object": the
	// DocTypes the reader may not see, whose fields (Hidden ones
	// included) must not be spelled out inside another DocType's schema.
	Opaque map[reflect.Type]bool
}

// Schema returns the schema of values of Go type t in direction dir.
func (r *Reflector) Schema(t reflect.Type, dir Direction) *Schema {
	return r.schema(t, dir, map[reflect.Type]bool{})
}

func (r *Reflector) schema(t reflect.Type, dir Direction, seen map[reflect.Type]bool) *Schema {
	s := r.bare(t, dir, seen)
	if dir == Input {
		return Nullable(s) // null clears a field
	}
	return s
}

// bare is the schema of t without the input's null.
func (r *Reflector) bare(t reflect.Type, dir Direction, seen map[reflect.Type]bool) *Schema {
	if t.Kind() == reflect.Pointer {
		return Nullable(r.bare(t.Elem(), dir, seen))
	}
	switch {
	case t == timeType:
		return &Schema{Type: "string", Format: "date-time"}
	case t == decimalType:
		if dir == Input {
			return &Schema{Type: []string{"string", "number"}, Pattern: DecimalInputPattern,
				Description: "an exact decimal: a string such as \"12.50\" (or a JSON number)"}
		}
		return &Schema{Type: "string", Pattern: DecimalPattern, Description: "an exact decimal such as \"12.50\""}
	case t == rawType:
		return &Schema{}
	case t.PkgPath() == doctypePkg && t.Kind() == reflect.Slice && (t.Name() == "StringList" || strings.HasPrefix(t.Name(), "JSONList[")):
		// These encode nil as []; they accept null on input.
		return Array(r.element(t.Elem(), dir, seen))
	}
	if name, ok := r.refOf(t, dir); ok {
		return Ref(name)
	}
	if r.Opaque[t] {
		return &Schema{Type: "object", Description: "a document of a DocType not described here"}
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		return &Schema{} // encodes itself: anything
	}
	if t.Implements(textType) || reflect.PointerTo(t).Implements(textType) {
		return &Schema{Type: "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int64:
		return &Schema{Type: "integer", Format: "int64"}
	case reflect.Int32:
		return &Schema{Type: "integer", Format: "int32"}
	case reflect.Int, reflect.Int8, reflect.Int16:
		return &Schema{Type: "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &Schema{Type: "integer", Minimum: ptr(0.0)}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return Nullable(&Schema{Type: "string", Format: "byte"})
		}
		return Nullable(Array(r.element(t.Elem(), dir, seen))) // a nil slice is null
	case reflect.Array:
		return &Schema{Type: "array", Items: r.element(t.Elem(), dir, seen), MaxItems: ptr(t.Len())}
	case reflect.Map:
		return Nullable(&Schema{Type: "object", AdditionalProperties: r.element(t.Elem(), dir, seen)})
	case reflect.Struct:
		return r.object(t, dir, seen)
	}
	return &Schema{} // interfaces: any JSON value
}

// element is the schema of a list's or map's values: as encoded, without
// the input's null of fields (an element's null decodes to its zero value,
// which the schema of the element describes no better).
func (r *Reflector) element(t reflect.Type, dir Direction, seen map[reflect.Type]bool) *Schema {
	return r.bare(t, dir, seen)
}

func (r *Reflector) refOf(t reflect.Type, dir Direction) (string, bool) {
	refs := r.Refs
	if dir == Input {
		refs = r.InputRefs
	}
	name, ok := refs[t]
	return name, ok
}

// object is the schema of a struct encoded by encoding/json. Read objects
// require every field without omitempty; input objects require none (the
// decoder leaves absent fields zero).
func (r *Reflector) object(t reflect.Type, dir Direction, seen map[reflect.Type]bool) *Schema {
	if seen[t] {
		return &Schema{Type: "object"} // a recursive type: stop here
	}
	seen[t] = true
	defer delete(seen, t)
	s := &Schema{Type: "object", Properties: map[string]*Schema{}}
	r.fields(t, dir, seen, s)
	return s
}

func (r *Reflector) fields(t reflect.Type, dir Direction, seen map[reflect.Type]bool, s *Schema) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				r.fields(et, dir, seen, s) // promoted fields
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		var fs *Schema
		if hasOpt(opts, "string") && scalarKind(ft) {
			fs = &Schema{Type: "string"}
		} else {
			fs = r.schema(ft, dir, seen)
		}
		if _, dup := s.Properties[name]; dup {
			continue // the shallower field wins, as in encoding/json
		}
		s.Properties[name] = fs
		if dir == Read && !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			s.Required = append(s.Required, name)
		}
	}
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

func scalarKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
