// Package implicit is the tenant resolver of single-tenant apps: every request
// runs in one configured tenant that has every feature.
package implicit

import (
	"context"
	"maps"

	"github.com/framework-m/framework-m/ports"
)

// DefaultAttributes are the implicit tenant's attributes.
var DefaultAttributes = map[string]any{"plan": "unlimited", "features": "*"}

// Resolver always answers the same tenant.
type Resolver struct{ id string }

// New returns a resolver of tenant id.
func New(id string) *Resolver { return &Resolver{id: id} }

// CurrentTenant returns the tenant, marked as the default.
func (r *Resolver) CurrentTenant(context.Context) (*ports.TenantContext, error) {
	return &ports.TenantContext{ID: r.id, Attributes: maps.Clone(DefaultAttributes), IsDefault: true}, nil
}

// TenantAttributes returns the implicit attributes.
func (r *Resolver) TenantAttributes(context.Context, string) (map[string]any, error) {
	return maps.Clone(DefaultAttributes), nil
}

var _ ports.TenantResolver = (*Resolver)(nil)
