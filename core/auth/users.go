package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/ports"
)

// UserManager is the one place users are read, authenticated, created and
// changed. It delegates to the configured IdentityProvider; creating users and
// passwords needs a provider that keeps them (ports.LocalIdentity).
type UserManager struct {
	provider ports.IdentityProvider
	local    ports.LocalIdentity
	policy   PasswordPolicy
	mode     Mode
	sessions *Sessions
	keys     *APIKeys
	audit    *security // Service.AuditTo
	throttle *Throttle
	// checkRoles vets roles given to a user (see WithRoleCheck).
	checkRoles func(ctx context.Context, roles []string) error
	// cache holds users Get read (see WithCache).
	cache *events.Cache[*ports.User]
}

// WithCache makes Get answer from c, which the change notices of the users'
// DocType keep exact, instead of asking the provider on every request.
func (m *UserManager) WithCache(c *events.Cache[*ports.User]) *UserManager {
	m.cache = c
	return m
}

// WithRoleCheck makes Create, and UserAdmin's role changes, call check with
// the roles a user is given (on a change, the ones added) before anything is
// stored: the tenant's Roles (unknown or disabled ones refused). A
// *core.ValidationError from check is the caller's 400.
func (m *UserManager) WithRoleCheck(check func(ctx context.Context, roles []string) error) *UserManager {
	m.checkRoles = check
	return m
}

// CheckRoles vets roles given to a user: never empty, never System, at most
// MaxUserRoles of at most 140 characters, then the role check (WithRoleCheck).
func (m *UserManager) CheckRoles(ctx context.Context, roles []string) error {
	if err := validateRoles(roles).Err(); err != nil {
		return err
	}
	if m.checkRoles == nil || len(roles) == 0 {
		return nil
	}
	if err := m.checkRoles(ctx, roles); err != nil {
		return fmt.Errorf("check roles: %w", err)
	}
	return nil
}

// MaxUserRoles caps how many roles one user holds.
const MaxUserRoles = 100

// validateRoles lists what is wrong with roles as a user's roles.
func validateRoles(roles []string) *core.ValidationError {
	verr := &core.ValidationError{}
	if len(roles) > MaxUserRoles {
		verr.Add("roles", fmt.Sprintf("a user holds at most %d roles", MaxUserRoles))
		return verr
	}
	for _, r := range roles {
		switch {
		case r == "" || r == ports.RoleSystem:
			verr.Add("roles", fmt.Sprintf("%q cannot be given to a user", r))
		case len(r) > 140:
			verr.Add("roles", "a role name has at most 140 characters")
		}
	}
	return verr
}

// WithThrottle makes ChangePassword count password checks like login.
func (m *UserManager) WithThrottle(t *Throttle) *UserManager {
	m.throttle = t
	return m
}

// NewUserManager returns a UserManager over provider. sessions and keys (may be
// nil) are cleared when a user's credentials change or the user is deleted.
func NewUserManager(provider ports.IdentityProvider, mode Mode, policy PasswordPolicy, sessions *Sessions, keys *APIKeys) *UserManager {
	m := &UserManager{provider: provider, policy: policy, mode: mode, sessions: sessions, keys: keys}
	m.local, _ = provider.(ports.LocalIdentity)
	return m
}

// Provider returns the identity provider.
func (m *UserManager) Provider() ports.IdentityProvider { return m.provider }

// Mode returns the auth mode.
func (m *UserManager) Mode() Mode { return m.mode }

// Local returns the local identity, or an error in modes without local users.
func (m *UserManager) Local() (ports.LocalIdentity, error) {
	if m.local == nil {
		return nil, core.Publicf(core.ErrNotSupported, "auth mode %q keeps no local users", m.mode)
	}
	return m.local, nil
}

// Directory returns the administered user directory, or core.ErrNotSupported
// when the identity provider keeps none (federated mode, a provider of the
// app's own without ports.UserDirectory).
func (m *UserManager) Directory() (ports.UserDirectory, error) {
	dir, ok := m.provider.(ports.UserDirectory)
	if !ok || m.local == nil {
		return nil, core.Publicf(core.ErrNotSupported, "auth mode %q keeps no user directory to administer", m.mode)
	}
	return dir, nil
}

// Get returns user id of the tenant in ctx.
// The caller may change the fields of the returned User, not the contents
// of its Roles or Attributes.
func (m *UserManager) Get(ctx context.Context, id string) (*ports.User, error) {
	if m.cache == nil {
		return m.provider.GetUser(ctx, id)
	}
	u, err := m.cache.Get(ctx, id, func(ctx context.Context) (*ports.User, error) { return m.provider.GetUser(ctx, id) })
	if err != nil {
		return nil, err
	}
	c := *u
	return &c, nil
}

// Authenticate checks credentials and issues a token.
func (m *UserManager) Authenticate(ctx context.Context, creds ports.Credentials) (*ports.Token, error) {
	if _, ok := creds.(ports.PasswordCredentials); ok && !m.mode.HasPasswords() {
		return nil, core.Publicf(core.ErrNotSupported, "auth mode %q has no password login", m.mode)
	}
	return m.provider.Authenticate(ctx, creds)
}

// Create validates and stores a new local user in the tenant of ctx.
func (m *UserManager) Create(ctx context.Context, nu ports.NewUser) (*ports.User, error) {
	local, err := m.Local()
	if err != nil {
		return nil, err
	}
	verr := &core.ValidationError{}
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		var ve *core.ValidationError
		errors.As(err, &ve)
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
	nu.Email = email
	if m.mode.HasPasswords() || nu.Password != "" {
		if err := m.policy.Check(nu.Password, nu.Email); err != nil {
			var ve *core.ValidationError
			errors.As(err, &ve)
			verr.Fields = append(verr.Fields, ve.Fields...)
		}
	}
	if len(nu.DisplayName) > 140 {
		verr.Add("display_name", "must be at most 140 characters")
	}
	verr.Fields = append(verr.Fields, validateRoles(nu.Roles).Fields...)
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if err := m.CheckRoles(ctx, nu.Roles); err != nil {
		return nil, err
	}
	return local.CreateUser(ctx, nu)
}

// ChangePassword replaces id's password after checking the current one. Every
// token issued before stops working and every session ends; a temporary
// password's PasswordChangeRequired is cleared.
func (m *UserManager) ChangePassword(ctx context.Context, id, current, next string) error {
	local, err := m.Local()
	if err != nil {
		return err
	}
	if !m.mode.HasPasswords() {
		return core.Publicf(core.ErrNotSupported, "auth mode %q has no passwords", m.mode)
	}
	u, err := local.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if err := m.VerifyCurrentPassword(ctx, u.ID, u.Email, current); err != nil {
		return err
	}
	// Checked once the current password is proven, so it tells nothing new.
	if next == current {
		return core.Invalid("new_password", "must differ from the current password")
	}
	if err := m.policy.Check(next, u.Email); err != nil {
		return err
	}
	if err := local.SetPassword(ctx, id, next); err != nil {
		return err
	}
	m.audit.event(ctx, ports.AuditPasswordChange, id, map[string]any{"by": "self"})
	return m.endSessions(ctx, id)
}

// VerifyCurrentPassword checks that password is user id's own before a
// sensitive change; a wrong one is a validation error on "current_password".
// Guessing it with a stolen token is throttled like login.
func (m *UserManager) VerifyCurrentPassword(ctx context.Context, id, email, password string) error {
	local, err := m.Local()
	if err != nil {
		return err
	}
	if password == "" {
		return core.Invalid("current_password", "is required to do this")
	}
	if err := m.throttle.Check(ctx, ports.ClientIPFrom(ctx), email); err != nil {
		return err
	}
	if err := local.VerifyPassword(ctx, id, password); err != nil {
		if errors.Is(err, core.ErrUnauthorized) {
			return core.Invalid("current_password", "is wrong")
		}
		return err
	}
	m.throttle.Succeeded(ctx, email)
	return nil
}

// SetPassword sets id's password without the current one (admin tools, CLI);
// like every new password it clears PasswordChangeRequired.
func (m *UserManager) SetPassword(ctx context.Context, id, password string) error {
	local, err := m.Local()
	if err != nil {
		return err
	}
	u, err := local.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if err := m.policy.Check(password, u.Email); err != nil {
		return err
	}
	if err := local.SetPassword(ctx, id, password); err != nil {
		return err
	}
	m.audit.event(ctx, ports.AuditPasswordChange, id, map[string]any{"by": "admin"})
	return m.endSessions(ctx, id)
}

// LogoutEverywhere ends every session of id and invalidates every token issued so far.
func (m *UserManager) LogoutEverywhere(ctx context.Context, id string) error {
	if m.local != nil {
		if err := m.local.BumpTokenVersion(ctx, id); err != nil {
			return err
		}
	}
	return m.endSessions(ctx, id)
}

func (m *UserManager) endSessions(ctx context.Context, id string) error {
	if m.sessions == nil {
		return nil
	}
	if _, err := m.sessions.RevokeAll(ctx, id); err != nil {
		return fmt.Errorf("end sessions of %s: %w", id, err)
	}
	return nil
}
