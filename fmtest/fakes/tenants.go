package fakes

import (
	"context"
	"maps"

	"github.com/framework-m/framework-m/ports"
)

// Tenants is a ports.TenantResolver that puts every request in one fixed
// tenant. TenantAttributes answers that tenant's attributes, and an empty map
// for any other id.
type Tenants struct {
	tenant ports.TenantContext
}

// NewTenants returns a resolver of tenant t. An empty t.ID is
// ports.DefaultTenantID.
func NewTenants(t ports.TenantContext) *Tenants {
	if t.ID == "" {
		t.ID = ports.DefaultTenantID
	}
	t.Attributes = maps.Clone(t.Attributes)
	return &Tenants{tenant: t}
}

// CurrentTenant returns a copy of the tenant.
func (r *Tenants) CurrentTenant(context.Context) (*ports.TenantContext, error) {
	t := r.tenant
	t.Attributes = maps.Clone(t.Attributes)
	if t.Attributes == nil {
		t.Attributes = map[string]any{}
	}
	return &t, nil
}

// TenantAttributes returns a copy of the tenant's attributes when id is its
// id, else an empty map.
func (r *Tenants) TenantAttributes(_ context.Context, id string) (map[string]any, error) {
	if id != r.tenant.ID || r.tenant.Attributes == nil {
		return map[string]any{}, nil
	}
	return maps.Clone(r.tenant.Attributes), nil
}

var _ ports.TenantResolver = (*Tenants)(nil)
