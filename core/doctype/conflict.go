package doctype

import (
	"context"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// DuplicateError explains a refused create, the same way in every
// repository: the name (when the caller chose it) or one of the DocType's
// unique field sets is taken.
func (d *DocType) DuplicateError(name string, named bool) error {
	switch {
	case len(d.Unique) == 0:
		return core.Publicf(core.ErrConflict, "%s %q already exists", d.Name, name)
	case named:
		return core.Publicf(core.ErrConflict, "%s %q already exists, or another %s has the same %s", d.Name, name, d.Name, d.uniqueDesc())
	}
	return core.Publicf(core.ErrConflict, "another %s has the same %s", d.Name, d.uniqueDesc())
}

func (d *DocType) uniqueDesc() string {
	if len(d.Unique) == 0 {
		return "name"
	}
	parts := make([]string, 0, len(d.Unique))
	for _, u := range d.Unique {
		parts = append(parts, strings.Join(u, "+"))
	}
	return strings.Join(parts, " or ")
}

// ActorID is who a write in ctx is made by: the principal, or the system.
func ActorID(ctx context.Context) string {
	if u := ports.UserFrom(ctx); u != nil && u.ID != "" {
		return u.ID
	}
	return ports.SystemUser.ID
}
