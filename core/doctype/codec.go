package doctype

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/jsonstrict"
	"github.com/framework-m/framework-m/ports"
)

// MaxInValues caps the values of an in / not in filter.
const MaxInValues = 1000

// MarshalDoc returns the API JSON of doc: its visible fields, or only those in
// fields when fields is not empty. Hidden fields never appear.
func (d *DocType) MarshalDoc(doc any, fields []string) ([]byte, error) {
	if len(fields) == 0 && d.plainJSON {
		return json.Marshal(doc)
	}
	return json.Marshal(d.ToMap(doc, fields))
}

// ToMap returns doc's visible fields (or those in fields) keyed by JSON name.
func (d *DocType) ToMap(doc any, fields []string) map[string]any {
	v := reflect.ValueOf(doc)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	out := make(map[string]any, len(d.fields))
	if len(fields) > 0 {
		for _, name := range fields {
			if f, ok := d.VisibleField(name); ok {
				out[f.Name] = v.FieldByIndex(f.Index).Interface()
			}
		}
		return out
	}
	for i := range d.fields {
		f := &d.fields[i]
		if !f.Hidden {
			out[f.Name] = v.FieldByIndex(f.Index).Interface()
		}
	}
	return out
}

// DecodeNew decodes a client's JSON object into a new document with its
// defaults. Unknown, hidden and read-only fields, malformed JSON, keys that
// appear twice (at any depth), strings that are not valid UTF-8 and values of
// the wrong type are a *core.ValidationError naming every bad field; "name" is
// accepted only when the DocType's naming rule is "prompt".
func (d *DocType) DecodeNew(data []byte) (any, error) {
	members, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	doc := d.New()
	rv := reflect.ValueOf(doc).Elem()
	verr := &core.ValidationError{}
	for _, m := range members {
		key := m.Key
		f, ok := d.VisibleField(key)
		if !ok {
			verr.Add(key, "unknown field")
			continue
		}
		if f.ReadOnly && !(f.Name == FieldName && d.Naming == NamingPrompt) {
			verr.Add(key, "read-only field")
			continue
		}
		if checkFolded(verr, f, m.Value) {
			continue
		}
		val, reason := decodeValue(f, m.Value)
		if reason != "" {
			verr.Add(key, reason)
			continue
		}
		rv.FieldByIndex(f.Index).Set(val)
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	return doc, nil
}

// ApplyPatch merges a client's JSON object into doc (a document read from the
// store). Fields absent from the patch keep their values; null clears a field.
// "version", when present, is returned rather than applied. Read-only fields may
// appear only with their current value (so a fetched document can be sent back
// whole). The body is read as strictly as by DecodeNew. On any error doc is
// left unchanged.
func (d *DocType) ApplyPatch(doc any, data []byte) (version int64, hasVersion bool, err error) {
	members, err := decodeObject(data)
	if err != nil {
		return 0, false, err
	}
	rv := reflect.ValueOf(doc).Elem()
	verr := &core.ValidationError{}
	type set struct {
		f   *Field
		val reflect.Value
	}
	var sets []set
	for _, m := range members {
		key := m.Key
		f, ok := d.VisibleField(key)
		if !ok {
			verr.Add(key, "unknown field")
			continue
		}
		if key == FieldVersion && string(m.Value) == "null" {
			verr.Add(key, "must be an integer")
			continue
		}
		if checkFolded(verr, f, m.Value) {
			continue
		}
		val, reason := decodeValue(f, m.Value)
		if reason != "" {
			verr.Add(key, reason)
			continue
		}
		if key == FieldVersion {
			version, hasVersion = val.Int(), true
			continue
		}
		if f.ReadOnly {
			if !sameValue(val, rv.FieldByIndex(f.Index)) {
				verr.Add(key, "read-only field")
			}
			continue
		}
		sets = append(sets, set{f, val})
	}
	if err := verr.Err(); err != nil {
		return 0, false, err
	}
	for _, s := range sets {
		rv.FieldByIndex(s.f.Index).Set(s.val)
	}
	return version, hasVersion, nil
}

// CoerceFilter checks filter f against the DocType and converts its value to the
// field's Go type. Errors are *core.ValidationError naming the filter's field.
func (d *DocType) CoerceFilter(f ports.Filter) (ports.Filter, error) {
	if f.IsGroup() {
		groups := make([][]ports.Filter, len(f.Any))
		for i, g := range f.Any {
			groups[i] = make([]ports.Filter, len(g))
			for j, sub := range g {
				c, err := d.CoerceFilter(sub)
				if err != nil {
					return f, err
				}
				groups[i][j] = c
			}
		}
		return ports.Filter{Any: groups}, nil
	}
	fd, ok := d.VisibleField(f.Field)
	if !ok {
		return f, core.Invalid(f.Field, "unknown field")
	}
	if !fd.Filterable {
		return f, core.Invalid(f.Field, "cannot be filtered on")
	}
	if !f.Op.Valid() {
		return f, core.Invalidf(f.Field, "unknown operator %q", f.Op)
	}
	switch f.Op {
	case ports.OpIsNull, ports.OpIsNotNull:
		f.Value = nil
		return f, nil
	case ports.OpLike:
		if fd.Type.Kind() != reflect.String {
			return f, core.Invalid(f.Field, "like needs a text field")
		}
		s, ok := f.Value.(string)
		if !ok || len(s) > 1024 || strings.ContainsRune(s, 0) {
			return f, core.Invalid(f.Field, "like needs a text pattern of at most 1024 bytes")
		}
		f.Value = s
		return f, nil
	case ports.OpIn, ports.OpNotIn:
		var items []any
		switch v := f.Value.(type) {
		case []any:
			items = v
		case string: // "a,b,c"
			for _, p := range strings.Split(v, ",") {
				items = append(items, strings.TrimSpace(p))
			}
		default: // a typed slice from Go code, such as []string
			rv := reflect.ValueOf(f.Value)
			if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
				return f, core.Invalidf(f.Field, "%s needs a list", f.Op)
			}
			for i := range rv.Len() {
				items = append(items, rv.Index(i).Interface())
			}
		}
		if len(items) > MaxInValues {
			return f, core.Invalidf(f.Field, "%s takes at most %d values", f.Op, MaxInValues)
		}
		vals := make([]any, 0, len(items))
		for _, it := range items {
			v, err := coerce(fd, it)
			if err != nil {
				return f, err
			}
			vals = append(vals, v)
		}
		f.Value = vals
		return f, nil
	}
	if f.Value == nil {
		return f, core.Invalidf(f.Field, "%s needs a value (use \"is null\" for nulls)", f.Op)
	}
	v, err := coerce(fd, f.Value)
	if err != nil {
		return f, err
	}
	f.Value = v
	return f, nil
}

func coerce(f *Field, v any) (any, error) {
	if s, ok := v.(string); ok && f.Type.Kind() != reflect.String && f.Type != reflect.TypeFor[Decimal]() && f.Type != reflect.TypeFor[time.Time]() {
		// Query strings carry numbers and booleans as text.
		var probe any
		if json.Unmarshal([]byte(s), &probe) == nil {
			v = probe
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, core.Invalid(f.Name, "invalid filter value")
	}
	val, reason := decodeValue(f, raw)
	if reason != "" {
		return nil, core.Invalid(f.Name, reason)
	}
	return val.Interface(), nil
}

// decodeObject splits a client's JSON object into its members, sorted by
// key, through the strict reader: a key named twice at any depth, or a
// string that is not valid UTF-8 (a lone surrogate escape included), is a
// *core.ValidationError naming the field, never a value silently dropped or
// replaced. Keys are compared exactly, as fields are looked up; values whose
// Go type folds key case are checked again by checkFolded.
func decodeObject(data []byte) ([]jsonstrict.Member, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, &core.ValidationError{Message: "request body must be a JSON object"}
	}
	members, err := jsonstrict.Object(data, jsonstrict.Exact)
	if err == nil {
		slices.SortFunc(members, func(a, b jsonstrict.Member) int { return strings.Compare(a.Key, b.Key) })
		return members, nil
	}
	var verr *core.ValidationError
	if errors.As(err, &verr) {
		return nil, verr
	}
	if errors.Is(err, jsonstrict.ErrNotObject) {
		return nil, &core.ValidationError{Message: "request body must be a JSON object"}
	}
	// Malformed: say it in encoding/json's words, as clients have been told.
	var syn *json.SyntaxError
	if errors.As(json.Unmarshal(data, new(json.RawMessage)), &syn) {
		return nil, &core.ValidationError{Message: "malformed JSON: " + strings.TrimPrefix(syn.Error(), "json: ")}
	}
	return nil, &core.ValidationError{Message: "malformed JSON: " + err.Error()}
}

// checkFolded checks a field value once more when decoding it matches object
// keys ignoring case (a struct somewhere in the field's type), so that
// {"city": "A", "City": "B"} cannot let the last one win. It records the
// problems on verr, prefixed with the field's name, and reports whether there
// were any.
func checkFolded(verr *core.ValidationError, f *Field, raw []byte) bool {
	if len(raw) == 0 || (raw[0] != '{' && raw[0] != '[') || !foldsKeys(f.Type) {
		return false
	}
	var nested *core.ValidationError
	if !errors.As(jsonstrict.Check(raw, jsonstrict.Fold), &nested) {
		return false
	}
	for _, fe := range nested.Fields {
		if strings.HasPrefix(fe.Field, "[") {
			verr.Add(f.Name+fe.Field, fe.Reason)
		} else {
			verr.Add(f.Name+"."+fe.Field, fe.Reason)
		}
	}
	return true
}

// foldCache remembers foldsKeys per type.
var foldCache sync.Map // reflect.Type → bool

// foldsKeys reports whether encoding/json, decoding into t, matches object
// keys to struct fields (ignoring case) anywhere inside it.
func foldsKeys(t reflect.Type) bool {
	if v, ok := foldCache.Load(t); ok {
		return v.(bool)
	}
	v := foldsKeysIn(t, map[reflect.Type]bool{})
	foldCache.Store(t, v)
	return v
}

func foldsKeysIn(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return false // decodes itself (time.Time, Decimal …)
	}
	switch t.Kind() {
	case reflect.Struct:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return foldsKeysIn(t.Elem(), seen)
	}
	return false
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeValue decodes raw into a new value of f's type; reason says why not.
func decodeValue(f *Field, raw json.RawMessage) (reflect.Value, string) {
	ptr := reflect.New(f.Type)
	if string(bytes.TrimSpace(raw)) == "null" {
		return ptr.Elem(), ""
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return reflect.Value{}, "must not contain NUL characters"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return reflect.Value{}, "must be " + describe(f.Type)
		}
		if f.Type == reflect.TypeFor[time.Time]() || f.Type == reflect.TypeFor[*time.Time]() {
			return reflect.Value{}, "must be " + describe(f.Type)
		}
		return reflect.Value{}, strings.TrimPrefix(err.Error(), "json: ")
	}
	if f.MaxLength > 0 {
		if v := ptr.Elem(); v.Kind() == reflect.String && utf8.RuneCountInString(v.String()) > f.MaxLength {
			return reflect.Value{}, fmt.Sprintf("must be at most %d characters", f.MaxLength)
		}
	}
	return ptr.Elem(), ""
}

func describe(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 date-time such as 2026-01-31T09:30:00Z"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		switch t.Elem().Kind() {
		case reflect.String:
			return "a list of strings"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return "a list of integers"
		case reflect.Float32, reflect.Float64:
			return "a list of numbers"
		}
		return "a list"
	}
	return "an object"
}

// FieldChange is one field a write changed (Diff).
type FieldChange struct {
	Field    *Field
	Old, New any
}

// Diff lists the stored fields whose values differ between before and after
// (documents of d; before nil for a create, after nil for a delete: every
// field that is not zero then), in field order. Base's bookkeeping fields
// (tenant, name, timestamps, modified_by, version) are left out; hidden
// fields are included: the caller masks them.
func (d *DocType) Diff(before, after any) []FieldChange {
	var bv, av reflect.Value
	if before != nil {
		bv = reflect.Indirect(reflect.ValueOf(before))
	}
	if after != nil {
		av = reflect.Indirect(reflect.ValueOf(after))
	}
	var out []FieldChange
	for i := range d.fields {
		f := &d.fields[i]
		if !f.Stored || (f.System && f.Name != FieldOwner) {
			continue
		}
		var ov, nv reflect.Value
		if bv.IsValid() {
			ov = bv.FieldByIndex(f.Index)
		}
		if av.IsValid() {
			nv = av.FieldByIndex(f.Index)
		}
		switch {
		case ov.IsValid() && nv.IsValid():
			if sameValue(ov, nv) {
				continue
			}
			out = append(out, FieldChange{Field: f, Old: ov.Interface(), New: nv.Interface()})
		case nv.IsValid():
			if nv.IsZero() {
				continue
			}
			out = append(out, FieldChange{Field: f, New: nv.Interface()})
		case ov.IsValid():
			if ov.IsZero() {
				continue
			}
			out = append(out, FieldChange{Field: f, Old: ov.Interface()})
		}
	}
	return out
}

func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Pointer && b.Kind() == reflect.Pointer {
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	}
	if ta, ok := a.Interface().(time.Time); ok {
		tb, _ := b.Interface().(time.Time)
		return ta.Equal(tb)
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// Set assigns value to doc's field (by JSON name), converting it like client
// input would be; framework code uses it to set read-only fields.
func (d *DocType) Set(doc any, field string, value any) error {
	f, ok := d.Field(field)
	if !ok {
		return fmt.Errorf("doctype %s: no field %q", d.Name, field)
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("doctype %s: field %s: %w", d.Name, field, err)
	}
	v, reason := decodeValue(f, raw)
	if reason != "" {
		return fmt.Errorf("doctype %s: field %s: %s", d.Name, field, reason)
	}
	reflect.ValueOf(doc).Elem().FieldByIndex(f.Index).Set(v)
	return nil
}

// Get returns doc's field (by JSON name).
func (d *DocType) Get(doc any, field string) (any, bool) {
	f, ok := d.Field(field)
	if !ok {
		return nil, false
	}
	return reflect.ValueOf(doc).Elem().FieldByIndex(f.Index).Interface(), true
}
