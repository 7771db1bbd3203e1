package core

import (
	"context"

	"github.com/framework-m/framework-m/ports"
)

// RequireTenant returns the id of the tenant carried by ctx, or ErrNoTenant:
// stores call it first, so nothing ever runs unscoped.
func RequireTenant(ctx context.Context) (string, error) {
	if id := ports.TenantIDFrom(ctx); id != "" {
		return id, nil
	}
	return "", ErrNoTenant
}
