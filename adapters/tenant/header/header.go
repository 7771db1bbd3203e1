// Package header is the tenant resolver of multi-tenant apps behind a gateway:
// the gateway names each request's tenant in a header (X-Tenant-ID) and may
// describe it in another (X-Tenant-Attributes, JSON: plan, feature flags), so
// handlers can check features without a database read. The web adapter drops
// both headers from peers that are not trusted proxies.
package header

import (
	"context"
	"encoding/json"
	"maps"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// Resolver reads the tenant from request headers.
type Resolver struct {
	idHeader, attrHeader, defaultID string
}

// New returns a resolver reading cfg's header names.
func New(cfg config.Tenancy) *Resolver {
	return &Resolver{idHeader: cfg.TenantHeader, attrHeader: cfg.AttributesHeader, defaultID: cfg.DefaultTenantID}
}

// Headers lists the headers the resolver reads.
func (r *Resolver) Headers() []string { return []string{r.idHeader, r.attrHeader} }

// CurrentTenant returns the tenant the request's headers name.
func (r *Resolver) CurrentTenant(ctx context.Context) (*ports.TenantContext, error) {
	h := ports.RequestHeaderFrom(ctx)
	id := h.Get(r.idHeader)
	if id == "" {
		return nil, core.Invalidf(r.idHeader, "is required: this app serves several tenants")
	}
	if !config.TenantIDValid(id) {
		return nil, core.Invalidf(r.idHeader, "must be 1-64 letters, digits, '-', '_' or '.'")
	}
	t := &ports.TenantContext{ID: id, Attributes: map[string]any{}, IsDefault: id == r.defaultID}
	if raw := h.Get(r.attrHeader); raw != "" {
		if len(raw) > 8192 || json.Unmarshal([]byte(raw), &t.Attributes) != nil || t.Attributes == nil {
			return nil, core.Invalidf(r.attrHeader, "must be a JSON object such as {\"plan\":\"pro\",\"features\":[\"beta\"]}")
		}
	}
	return t, nil
}

// TenantAttributes returns the attributes the current request carries for
// id; a resolver without a tenant store knows no others.
func (r *Resolver) TenantAttributes(ctx context.Context, id string) (map[string]any, error) {
	t, err := r.CurrentTenant(ctx)
	if err != nil || t.ID != id {
		return map[string]any{}, nil
	}
	return maps.Clone(t.Attributes), nil
}

var _ ports.TenantResolver = (*Resolver)(nil)
