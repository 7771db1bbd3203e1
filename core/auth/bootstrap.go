package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Bootstrap is the first admin of an app ([auth.bootstrap_admin]).
type Bootstrap struct {
	Email, Password string
	// Hint is logged when there is no user at all and no bootstrap admin is
	// configured: how to create the first one.
	Hint string
}

// BootstrapAdmin creates b's admin, as the system in ctx's tenant, when no
// user has its email; with none configured it logs b.Hint if the tenant has
// no users at all. Modes without local users do nothing.
func (m *UserManager) BootstrapAdmin(ctx context.Context, b Bootstrap, log *slog.Logger) error {
	local, err := m.Local()
	if err != nil {
		return nil // no local users in this mode
	}
	if b.Email != "" {
		_, err := local.FindByEmail(ctx, b.Email)
		if !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if _, err := m.Create(ctx, ports.NewUser{Email: b.Email, Password: b.Password, DisplayName: "Administrator", Roles: []string{ports.RoleAdmin}}); err != nil {
			return fmt.Errorf("auth.bootstrap_admin: %w", err)
		}
		log.Info("created the bootstrap admin", "email", b.Email)
		return nil
	}
	n, err := local.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n == 0 && b.Hint != "" {
		log.Warn(b.Hint)
	}
	return nil
}
