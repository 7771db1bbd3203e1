package frameworkm

import (
	"time"

	"github.com/framework-m/framework-m/adapters/permission/cedar"
	"github.com/framework-m/framework-m/adapters/permission/citadel"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// builtinPermissions are the evaluators [permissions] backend may name.
var builtinPermissions = map[string]Backend[ports.PermissionEvaluator]{
	"rbac": Factory(func(d Deps) (ports.PermissionEvaluator, error) { return newRBAC(d), nil }),
	"citadel": NewBackend(citadel.DefaultConfig(), func(d Deps, c citadel.Config) (ports.PermissionEvaluator, error) {
		opts := []citadel.Option{citadel.WithLogger(d.Logger), citadel.WithTracerProvider(d.Tracer)}
		if c.Fallback == citadel.FallbackRBAC {
			opts = append(opts, citadel.WithFallback(newRBAC(d)))
		}
		return citadel.New(c, opts...)
	}),
	"cedar": NewBackend(cedar.DefaultConfig(), func(d Deps, c cedar.Config) (ports.PermissionEvaluator, error) {
		return cedar.New(d.Registry, c, cedar.WithLogger(d.Logger))
	}),
}

// newRBAC builds the rule evaluator with the tenant's Custom Permission rows.
func newRBAC(d Deps) *rbac.Adapter {
	p := d.Config.Permissions
	custom := rbac.NewCustom(d.Repository, d.Registry, time.Duration(p.CustomCacheSeconds)*time.Second, d.Logger)
	custom.Follow(d.Changes)
	return rbac.New(d.Registry, rbac.Options{
		AdminRoles:  p.AdminRoles,
		AdminBypass: p.AdminBypass,
		Source:      custom,
	})
}

// WithPermissionBackend adds a permission evaluator under name, to be chosen
// with [permissions] backend and configured in [permissions.<name>].
func WithPermissionBackend(name string, b Backend[ports.PermissionEvaluator]) Option {
	return func(o *options) { o.permissions.register(name, b) }
}

// buildPermissions builds [permissions] backend and keeps its caches exact:
// an evaluator with Invalidate(tenant) hears of every Custom Permission change.
func (a *App) buildPermissions(o *options, d Deps) error {
	p, err := o.permissions.build(d, "permissions.backend", a.Config.Permissions.Backend)
	if err != nil {
		return err
	}
	if inv, ok := p.(interface{ Invalidate(tenant string) }); ok {
		d.Changes.Watch(doctypes.CustomPermissionDocType, func(n ports.ChangeNotice) { inv.Invalidate(n.TenantID) })
	}
	a.Permissions = p
	a.adopt(p)
	return nil
}
