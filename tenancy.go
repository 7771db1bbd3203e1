package frameworkm

import (
	tenantheader "github.com/framework-m/framework-m/adapters/tenant/header"
	"github.com/framework-m/framework-m/adapters/tenant/implicit"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// builtinTenantResolvers are the resolvers [tenancy] resolver may name.
var builtinTenantResolvers = map[string]Backend[ports.TenantResolver]{
	"implicit": Factory(func(d Deps) (ports.TenantResolver, error) {
		return implicit.New(d.Config.Tenancy.DefaultTenantID), nil
	}),
	"header": Factory(func(d Deps) (ports.TenantResolver, error) { return tenantheader.New(d.Config.Tenancy), nil }),
}

// tenantResolverName is [tenancy] resolver, or the mode's own resolver.
func tenantResolverName(t config.Tenancy) string {
	switch {
	case t.Resolver != "":
		return t.Resolver
	case t.IsMultiTenant():
		return "header"
	}
	return "implicit"
}

// WithTenantResolver adds a tenant resolver under name (tenants from
// subdomains, from a tenant table …), to be chosen with [tenancy] resolver and
// configured in [tenancy.<name>]; a built-in name replaces that resolver. The
// mode names "single" and "multi" stand for their modes' resolvers
// (implicit and header), so a resolver registered for a mode replaces it.
func WithTenantResolver(name string, b Backend[ports.TenantResolver]) Option {
	switch name {
	case "single":
		name = "implicit"
	case "multi":
		name = "header"
	}
	return func(o *options) { o.tenants.register(name, b) }
}

// buildTenants builds the tenant resolver.
func (a *App) buildTenants(o *options, d Deps) error {
	t, err := o.tenants.build(d, "tenancy.resolver", tenantResolverName(a.Config.Tenancy))
	if err != nil {
		return err
	}
	a.Tenants = t
	a.adopt(t)
	return nil
}
