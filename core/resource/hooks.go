package resource

import (
	"context"
	"maps"
	"reflect"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// WriteGuard checks one write of a DocType before it is stored: action is
// ports.ActionCreate (before is nil), ports.ActionWrite (before is the
// document as it was, after as it will be written) or ports.ActionDelete
// (after is nil). Documents are pointers to the DocType's struct; a guard
// must not change before. Its error refuses the write and is returned as is.
type WriteGuard func(ctx context.Context, action ports.Action, before, after any) error

// Guard adds g to the guards of doctype: they run, in the order added, for
// every create, update and delete of its documents made through the
// service, after authorization and before the repository write. Call it
// before serving.
func (s *Service) Guard(doctype string, g WriteGuard) {
	if s.guards == nil {
		s.guards = map[string][]WriteGuard{}
	}
	s.guards[doctype] = append(s.guards[doctype], g)
}

// RoleFilter returns the roles of a principal that may grant anything (those
// roles in the order given, without the disabled ones). It must not block.
type RoleFilter func(ctx context.Context, roles []string) []string

// FilterRoles makes f decide which of the principal's roles count, before
// every permission evaluation, row-level security filter and admin check
// of the service. Call it once, before serving.
func (s *Service) FilterRoles(f RoleFilter) { s.roleFilter = f }

// runGuards runs the guards of dt on one write.
func (s *Service) runGuards(ctx context.Context, dt *doctype.DocType, action ports.Action, before, after any) error {
	for _, g := range s.guards[dt.Name] {
		if err := g(ctx, action, before, after); err != nil {
			return err
		}
	}
	return nil
}

// snapshot copies doc before an update when dt has guards (nil otherwise):
// the struct, and its slices and maps, which a patch may change in place.
func (s *Service) snapshot(dt *doctype.DocType, doc any) any {
	if len(s.guards[dt.Name]) == 0 {
		return nil
	}
	v := reflect.ValueOf(doc).Elem()
	c := reflect.New(v.Type())
	c.Elem().Set(v)
	for _, f := range dt.Fields() {
		fv := c.Elem().FieldByIndex(f.Index)
		switch fv.Kind() {
		case reflect.Slice, reflect.Map:
			fv.Set(reflect.ValueOf(clone(fv.Interface())))
		}
	}
	return c.Interface()
}

// effective returns u with only the roles the role filter keeps: u itself
// when it keeps them all (or there is no filter), else a copy whose Roles
// are the kept ones and whose attributes carry no roles.
func (s *Service) effective(ctx context.Context, u *ports.UserContext) *ports.UserContext {
	if s.roleFilter == nil || u == nil {
		return u
	}
	all := u.AllRoles()
	kept := s.roleFilter(ctx, all)
	if len(kept) == len(all) {
		return u
	}
	c := *u
	c.Roles = kept
	if _, ok := u.Attributes["roles"]; ok {
		c.Attributes = maps.Clone(u.Attributes)
		delete(c.Attributes, "roles")
	}
	return &c
}
