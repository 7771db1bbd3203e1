package cedar

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// entities is the entity store of one request: its principal, action and
// resource. Roles and parent actions need no entity of their own: Cedar's `in`
// only follows the parents of the entities it finds.
type entities struct {
	principal, action, resource cedar.Entity
}

// Get returns the entity uid, if it is one of the request's.
func (e *entities) Get(uid cedar.EntityUID) (cedar.Entity, bool) {
	switch uid {
	case e.principal.UID:
		return e.principal, true
	case e.action.UID:
		return e.action, true
	case e.resource.UID:
		return e.resource, true
	}
	return cedar.Entity{}, false
}

// principalEntity is User::"<id>" with the principal's attributes, roles and
// id, and a Role::"<role>" parent per role.
func principalEntity(id string, roles []string, attrs map[string]any) cedar.Entity {
	rm := make(cedar.RecordMap, len(attrs)+2)
	for k, v := range attrs {
		if cv, ok := toValue(v); ok {
			rm[cedar.String(k)] = cv
		}
	}
	names := make([]cedar.Value, len(roles))
	parents := make([]cedar.EntityUID, len(roles))
	for i, r := range roles {
		names[i] = cedar.String(r)
		parents[i] = cedar.NewEntityUID(RoleType, cedar.String(r))
	}
	rm["roles"] = cedar.NewSet(names...)
	rm["id"] = cedar.String(id)
	return cedar.Entity{
		UID:        cedar.NewEntityUID(UserType, cedar.String(id)),
		Parents:    cedar.NewEntityUIDSet(parents...),
		Attributes: cedar.NewRecord(rm),
	}
}

// actionEntity is Action::"<DocType>:<action>" with parent Action::"<action>".
func actionEntity(dt *doctype.DocType, action ports.Action) cedar.Entity {
	return cedar.Entity{
		UID:     cedar.NewEntityUID(ActionType, cedar.String(dt.Name+":"+string(action))),
		Parents: cedar.NewEntityUIDSet(cedar.NewEntityUID(ActionType, cedar.String(action))),
	}
}

// resourceType is the DocType name without spaces.
func resourceType(dt *doctype.DocType) cedar.EntityType {
	return cedar.EntityType(strings.ReplaceAll(dt.Name, " ", ""))
}

// typeEntity is the resource of a DocType-level check: <Type>::"*" with only
// tenant_id.
func typeEntity(dt *doctype.DocType, tenant string) cedar.Entity {
	return cedar.Entity{
		UID:        cedar.NewEntityUID(resourceType(dt), TypeLevelID),
		Attributes: cedar.NewRecord(cedar.RecordMap{doctype.FieldTenantID: cedar.String(tenant)}),
	}
}

// documentEntity is <Type>::"<name>" with the document's API fields.
func documentEntity(dt *doctype.DocType, doc any, tenant string) (cedar.Entity, error) {
	v := reflect.ValueOf(doc)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return cedar.Entity{}, errors.New("nil document")
		}
		v = v.Elem()
	}
	if v.Type() != dt.Type {
		return cedar.Entity{}, fmt.Errorf("document is a %T, not a %s", doc, dt.Name)
	}
	fields := dt.Fields()
	rm := make(cedar.RecordMap, len(fields))
	var name string
	for i := range fields {
		f := &fields[i]
		if f.Hidden {
			continue
		}
		fv := v.FieldByIndex(f.Index).Interface()
		if f.Name == doctype.FieldName {
			name, _ = fv.(string)
		}
		if cv, ok := toValue(fv); ok {
			rm[cedar.String(f.Name)] = cv
		}
	}
	if s, _ := rm[doctype.FieldTenantID].(cedar.String); s == "" {
		rm[doctype.FieldTenantID] = cedar.String(tenant)
	}
	return cedar.Entity{
		UID:        cedar.NewEntityUID(resourceType(dt), cedar.String(name)),
		Attributes: cedar.NewRecord(rm),
	}, nil
}

// scalar reports whether v is a single value a filter can compare a field
// with: not nil, not a list or an object.
func scalar(v any) bool {
	if v == nil {
		return false
	}
	switch v.(type) {
	case time.Time, doctype.Decimal, json.Number:
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !rv.IsNil() && scalar(rv.Elem().Interface())
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct, reflect.Func, reflect.Chan:
		return false
	}
	return true
}

// toValue converts a Go value to its Cedar form (see the package doc). ok is
// false for values Cedar has no form for (nil, zero times, functions …); such
// attributes are left out.
func toValue(v any) (cedar.Value, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return cedar.String(x), true
	case bool:
		return cedar.Boolean(x), true
	case int:
		return cedar.Long(x), true
	case int64:
		return cedar.Long(x), true
	case int32:
		return cedar.Long(x), true
	case float64:
		return number(x)
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return cedar.Long(n), true
		}
		return cedar.String(x.String()), true
	case doctype.Decimal:
		return cedar.String(x.String()), true
	case time.Time:
		if x.IsZero() {
			return nil, false
		}
		return cedar.String(x.UTC().Format(time.RFC3339Nano)), true
	case []string:
		vs := make([]cedar.Value, len(x))
		for i, s := range x {
			vs[i] = cedar.String(s)
		}
		return cedar.NewSet(vs...), true
	case doctype.StringList:
		return toValue([]string(x))
	case map[string]any:
		return record(x), true
	case doctype.JSONMap:
		return record(x), true
	}
	return reflected(reflect.ValueOf(v))
}

// reflected converts the values toValue has no direct case for.
func reflected(rv reflect.Value) (cedar.Value, bool) {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, false
		}
		return toValue(rv.Elem().Interface())
	case reflect.String:
		return cedar.String(rv.String()), true
	case reflect.Bool:
		return cedar.Boolean(rv.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cedar.Long(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n := rv.Uint(); n <= math.MaxInt64 {
			return cedar.Long(int64(n)), true
		}
		return cedar.String(strconv.FormatUint(rv.Uint(), 10)), true
	case reflect.Float32, reflect.Float64:
		return number(rv.Float())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, false // raw bytes: no Cedar form
		}
		vs := make([]cedar.Value, 0, rv.Len())
		for i := range rv.Len() {
			if cv, ok := toValue(rv.Index(i).Interface()); ok {
				vs = append(vs, cv)
			}
		}
		return cedar.NewSet(vs...), true
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, false
		}
		rm := make(cedar.RecordMap, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			if cv, ok := toValue(it.Value().Interface()); ok {
				rm[cedar.String(it.Key().String())] = cv
			}
		}
		return cedar.NewRecord(rm), true
	}
	if s, ok := rv.Interface().(fmt.Stringer); ok {
		return cedar.String(s.String()), true
	}
	return nil, false
}

// number is a Long when f is integral and fits, else f's shortest digits.
func number(f float64) (cedar.Value, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return cedar.Long(int64(f)), true
	}
	return cedar.String(strconv.FormatFloat(f, 'f', -1, 64)), true
}

func record(m map[string]any) cedar.Record {
	rm := make(cedar.RecordMap, len(m))
	for k, v := range m {
		if cv, ok := toValue(v); ok {
			rm[cedar.String(k)] = cv
		}
	}
	return cedar.NewRecord(rm)
}
