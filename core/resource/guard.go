package resource

import (
	"reflect"
	"slices"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// RestrictToAdmins makes the documents and fields that grant power —
// DocTypes with Meta.AdminOnly (Custom Permission) and Meta.AdminFields (a
// Local User's roles and attributes) — writable only by principals holding
// one of roles (and by the framework itself), whatever the permission
// evaluator allows: otherwise a role granted write on Custom Permission could
// make its holders admins at once. Call it once, before serving.
func (s *Service) RestrictToAdmins(roles []string) { s.adminRoles = slices.Clone(roles) }

func (s *Service) isAdmin(u *ports.UserContext) bool {
	if u.IsSystemUser() {
		return true
	}
	for _, r := range s.adminRoles {
		if u.HasRole(r) {
			return true
		}
	}
	return false
}

// guarded reports whether the admin restriction applies to u on dt.
func (s *Service) guarded(u *ports.UserContext, dt *doctype.DocType) bool {
	return s.adminRoles != nil && (dt.AdminOnly || len(dt.AdminFields) > 0) && !s.isAdmin(u)
}

// guardWrite refuses a non-admin's create or delete of an AdminOnly
// document, and a create that sets an AdminField.
func (s *Service) guardWrite(u *ports.UserContext, dt *doctype.DocType, action ports.Action, doc any) error {
	if !s.guarded(u, dt) {
		return nil
	}
	if dt.AdminOnly {
		return adminOnly(dt, action)
	}
	if action == ports.ActionCreate {
		for _, f := range dt.AdminFields {
			if v, ok := dt.Get(doc, f); ok && !isZero(v) {
				return core.Publicf(core.ErrForbidden, "only administrators may set %s of %s", f, dt.Name)
			}
		}
	}
	return nil
}

// adminFieldValues snapshots the AdminFields of doc before a change.
func (s *Service) adminFieldValues(u *ports.UserContext, dt *doctype.DocType, doc any) []any {
	if !s.guarded(u, dt) || dt.AdminOnly {
		return nil
	}
	out := make([]any, len(dt.AdminFields))
	for i, f := range dt.AdminFields {
		v, _ := dt.Get(doc, f)
		out[i] = clone(v)
	}
	return out
}

// guardUpdate refuses a non-admin's change of an AdminOnly document, or of
// an AdminField (before holds adminFieldValues from before the patch).
func (s *Service) guardUpdate(u *ports.UserContext, dt *doctype.DocType, before []any, doc any) error {
	if !s.guarded(u, dt) {
		return nil
	}
	if dt.AdminOnly {
		return adminOnly(dt, ports.ActionWrite)
	}
	for i, f := range dt.AdminFields {
		v, _ := dt.Get(doc, f)
		if !reflect.DeepEqual(before[i], v) {
			return core.Publicf(core.ErrForbidden, "only administrators may change %s of %s", f, dt.Name)
		}
	}
	return nil
}

func adminOnly(dt *doctype.DocType, action ports.Action) error {
	return core.Publicf(core.ErrForbidden, "only administrators may %s %s", action, dt.Name)
}

func isZero(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map:
		return rv.Len() == 0
	}
	return rv.IsZero()
}

// clone copies slices and maps (a patch may change them in place).
func clone(v any) any {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice:
		if rv.IsNil() {
			return v
		}
		c := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
		reflect.Copy(c, rv)
		return c.Interface()
	case reflect.Map:
		if rv.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(rv.Type(), rv.Len())
		for _, k := range rv.MapKeys() {
			c.SetMapIndex(k, rv.MapIndex(k))
		}
		return c.Interface()
	}
	return v
}
