package ports

import (
	"context"
	"net/http"
	"slices"
	"strings"
)

// DefaultTenantID is the tenant used in single-tenant mode unless configured otherwise.
const DefaultTenantID = "default"

// TenantContext describes the tenant a request runs in.
type TenantContext struct {
	// ID is the tenant id every repository query is scoped to.
	ID string `json:"id"`
	// Attributes carries the tenant's plan and feature flags.
	Attributes map[string]any `json:"attributes,omitempty"`
	// IsDefault is true for the implicit single tenant.
	IsDefault bool `json:"is_default"`
}

// HasFeature reports whether the tenant's "features" attribute enables name:
// "*" enables everything; otherwise it is a list or a comma-separated string.
func (t *TenantContext) HasFeature(name string) bool {
	if t == nil {
		return false
	}
	switch f := t.Attributes["features"].(type) {
	case string:
		if f == "*" {
			return true
		}
		return slices.Contains(strings.Split(f, ","), name)
	case []string:
		return slices.Contains(f, "*") || slices.Contains(f, name)
	case []any:
		for _, v := range f {
			if s, ok := v.(string); ok && (s == "*" || s == name) {
				return true
			}
		}
	case map[string]any:
		b, _ := f[name].(bool)
		return b
	}
	return false
}

// TenantResolver decides which tenant a request runs in.
type TenantResolver interface {
	// CurrentTenant returns the tenant of the request carried by ctx (its
	// headers are in RequestHeaderFrom). A missing or malformed tenant is a
	// core.ErrValidation error.
	CurrentTenant(ctx context.Context) (*TenantContext, error)
	// TenantAttributes returns the attributes of tenant id.
	TenantAttributes(ctx context.Context, id string) (map[string]any, error)
}

type tenantKey struct{}

// WithTenant returns a context scoped to tenant t. Every repository operation
// reads the tenant from the context; without one it refuses to run.
func WithTenant(ctx context.Context, t *TenantContext) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// WithTenantID is WithTenant for a tenant known only by id.
func WithTenantID(ctx context.Context, id string) context.Context {
	return WithTenant(ctx, &TenantContext{ID: id})
}

// TenantFrom returns the tenant carried by ctx, or nil.
func TenantFrom(ctx context.Context) *TenantContext {
	t, _ := ctx.Value(tenantKey{}).(*TenantContext)
	return t
}

// TenantIDFrom returns the id of the tenant carried by ctx, or "".
func TenantIDFrom(ctx context.Context) string {
	if t := TenantFrom(ctx); t != nil {
		return t.ID
	}
	return ""
}

type headerKey struct{}

// WithRequestHeader returns a context carrying the request's headers, for
// resolvers that read them (the gateway's tenant headers).
func WithRequestHeader(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, headerKey{}, h)
}

// RequestHeaderFrom returns the request headers carried by ctx, or nil.
func RequestHeaderFrom(ctx context.Context) http.Header {
	h, _ := ctx.Value(headerKey{}).(http.Header)
	return h
}
