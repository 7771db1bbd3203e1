package roles

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// Install makes res keep roles sound: GuardUser, GuardPermission and
// GuardRole guard writes of the Local User, Custom Permission and Role
// DocTypes, and Active filters every principal's roles. Call it before
// serving.
func (s *Service) Install(res *resource.Service) {
	res.Guard(s.opts.UserDocType, s.GuardUser)
	res.Guard(s.opts.PermissionDocType, s.GuardPermission)
	res.Guard(s.opts.RoleDocType, s.GuardRole)
	res.FilterRoles(s.Active)
}

// GuardUser is the resource.WriteGuard of Local User: the roles of a new
// user, and the roles an update adds, must exist and be enabled (Check).
// Roles a user already holds stay, disabled or not.
func (s *Service) GuardUser(ctx context.Context, action ports.Action, before, after any) error {
	switch action {
	case ports.ActionCreate:
		return s.Check(ctx, s.field(after, "roles"))
	case ports.ActionWrite:
		old := s.field(before, "roles")
		var added []string
		for _, r := range s.field(after, "roles") {
			if !slices.Contains(old, r) {
				added = append(added, r)
			}
		}
		return s.Check(ctx, added)
	}
	return nil
}

// GuardPermission is the resource.WriteGuard of Custom Permission: the role
// of a new row, or its new role, must exist and be enabled.
func (s *Service) GuardPermission(ctx context.Context, action ports.Action, before, after any) error {
	switch action {
	case ports.ActionCreate:
		return s.check(ctx, "role", s.field(after, "role"))
	case ports.ActionWrite:
		if role := s.field(after, "role"); !slices.Equal(role, s.field(before, "role")) {
			return s.check(ctx, "role", role)
		}
	}
	return nil
}

// GuardRole is the resource.WriteGuard of Role: no row is named System (in
// any case) or like a role from code in another case; Admin, All and System
// cannot be disabled; a new row about a role from code is marked
// is_builtin; and a custom role still held by users or named by Custom
// Permission rows cannot be deleted (a core.ErrConflict listing where it is
// used). Deleting the row of a role from code only undoes its description
// or disabling, and is always allowed.
func (s *Service) GuardRole(ctx context.Context, action ports.Action, before, after any) error {
	doc := after
	if action == ports.ActionDelete {
		doc = before
	}
	b, err := doctype.BaseOf(doc)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoDocument, err)
	}
	name := b.Name
	meta := s.metaRoles()
	switch action {
	case ports.ActionCreate:
		if err := s.checkNewName(name, meta); err != nil {
			return err
		}
		if s.inCode(name, meta) {
			if err := s.set(after, "is_builtin", true); err != nil {
				return err
			}
		}
	case ports.ActionDelete:
		if s.inCode(name, meta) {
			return nil
		}
		used, err := s.Usage(ctx, name)
		if err != nil {
			return err
		}
		if len(used) > 0 {
			return core.Publicf(core.ErrConflict, "role %q is in use: %s", name, summary(used))
		}
		return nil
	}
	if s.isFixed(name) && s.flag(after, "disabled") {
		return core.Invalidf("disabled", "role %q cannot be disabled", name)
	}
	return nil
}

// checkNewName refuses a Role row named System, or named like a role from
// code but for case ("admin").
func (s *Service) checkNewName(name string, meta map[string][]string) error {
	if strings.EqualFold(name, ports.RoleSystem) {
		return core.Invalidf("name", "%q is reserved for the framework", name)
	}
	clash := func(k string) error {
		if k != name && strings.EqualFold(k, name) {
			return core.Invalidf("name", "%q differs only in case from the role %q", name, k)
		}
		return nil
	}
	for _, b := range s.builtin {
		if err := clash(b.Name); err != nil {
			return err
		}
	}
	for k := range meta {
		if err := clash(k); err != nil {
			return err
		}
	}
	return nil
}

// errNoDocument reports a guard called without the document it needs.
var errNoDocument = errors.New("roles: guard called without a document")

// maxListed caps the places an error lists.
const maxListed = 20

// summary joins places, at most maxListed of them.
func summary(places []string) string {
	if len(places) <= maxListed {
		return strings.Join(places, ", ")
	}
	return strings.Join(places[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(places)-maxListed)
}

// field returns doc's field as strings: a list as is, a non-empty string as
// its one element; nothing for an absent field or a nil doc.
func (s *Service) field(doc any, name string) []string {
	dt, ok := s.reg.Of(doc)
	if doc == nil || !ok {
		return nil
	}
	if v := str(dt, doc, name); v != "" {
		return []string{v}
	}
	return strs(dt, doc, name)
}

// flag returns doc's bool field (false when absent or doc is nil).
func (s *Service) flag(doc any, name string) bool {
	dt, ok := s.reg.Of(doc)
	return doc != nil && ok && flag(dt, doc, name)
}

// set assigns doc's field.
func (s *Service) set(doc any, name string, value any) error {
	dt, ok := s.reg.Of(doc)
	if !ok {
		return fmt.Errorf("roles: %T is not a registered DocType", doc)
	}
	return dt.Set(doc, name, value)
}
