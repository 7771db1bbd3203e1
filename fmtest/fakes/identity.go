package fakes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Identity is an in-memory ports.LocalIdentity: users kept per tenant, added
// by a test with Add or through the port's CreateUser. Like the local
// provider it scopes every port call to the tenant in ctx (core.ErrNoTenant
// without one), matches emails case-insensitively, refuses bad credentials
// with one core.ErrUnauthorized whatever was wrong, and returns copies.
// Passwords are kept as salted SHA-256 digests: fine for tests, not for
// production.
type Identity struct {
	tokens ports.TokenService

	mu    sync.Mutex
	users map[string]map[string]*account // tenant → id → account
}

// account is a stored user and its password digest (nil: no password).
type account struct {
	user   ports.User
	salt   []byte
	digest []byte
}

// NewIdentity returns an Identity with no users. Authenticate issues tokens
// with tokens (a *Tokens, say); with nil it fails with core.ErrNotSupported,
// as the local provider does without a token service.
func NewIdentity(tokens ports.TokenService) *Identity {
	return &Identity{tokens: tokens, users: map[string]map[string]*account{}}
}

var (
	errBadCredentials = core.Public(core.ErrUnauthorized, "invalid email or password")
	errUserNotFound   = core.Public(core.ErrNotFound, "user not found")
)

// Add stores u with password (none when empty, so the user cannot log in)
// and returns a copy of what was stored. u.TenantID defaults to
// ports.DefaultTenantID and u.ID to a new UUIDv7; the email is trimmed and
// lower-cased. IsActive is kept as given: set it for a user who may log in.
// A user with the same ID is replaced. Add panics when another user of the
// tenant has the email: a mistake in the test's setup.
func (i *Identity) Add(u ports.User, password string) *ports.User {
	if u.TenantID == "" {
		u.TenantID = ports.DefaultTenantID
	}
	if u.ID == "" {
		u.ID = doctype.NewUUIDv7()
	}
	u.Email = normalizeEmail(u.Email)
	a := &account{user: copyUser(u)}
	if password != "" {
		a.setPassword(password)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if other := i.byEmail(u.TenantID, u.Email); other != nil && other.user.ID != u.ID {
		panic(fmt.Sprintf("fakes: Identity.Add: tenant %q already has user %q with email %q", u.TenantID, other.user.ID, u.Email))
	}
	i.tenant(u.TenantID)[u.ID] = a
	out := copyUser(a.user)
	return &out
}

// GetUser returns user id of the tenant in ctx, or core.ErrNotFound.
func (i *Identity) GetUser(ctx context.Context, id string) (*ports.User, error) {
	var u ports.User
	err := i.withUser(ctx, id, func(_ map[string]*account, a *account) error {
		u = copyUser(a.user)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// FindByEmail returns the user of the tenant in ctx with email (in any
// case), active or not, or core.ErrNotFound.
func (i *Identity) FindByEmail(ctx context.Context, email string) (*ports.User, error) {
	a, err := i.accountByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, errUserNotFound
	}
	return &a.user, nil
}

// Authenticate checks ports.PasswordCredentials with CheckPassword and
// issues a token for the user; other credentials are core.ErrNotSupported.
func (i *Identity) Authenticate(ctx context.Context, creds ports.Credentials) (*ports.Token, error) {
	pc, ok := creds.(ports.PasswordCredentials)
	if !ok {
		return nil, core.Publicf(core.ErrNotSupported, "%s credentials are not supported", creds.CredentialKind())
	}
	if i.tokens == nil {
		return nil, core.Public(core.ErrNotSupported, "token issuing is not configured")
	}
	u, err := i.CheckPassword(ctx, pc.Email, pc.Password)
	if err != nil {
		return nil, err
	}
	tok, err := i.tokens.Issue(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	return tok, nil
}

// Attributes returns a copy of u's attributes with "roles" set to its roles.
func (i *Identity) Attributes(_ context.Context, u *ports.User) map[string]any {
	out := maps.Clone(u.Attributes)
	if out == nil {
		out = map[string]any{}
	}
	out["roles"] = slices.Clone(u.Roles)
	return out
}

// CreateUser stores a new active user in the tenant of ctx; an email another
// user of the tenant has is core.ErrConflict.
func (i *Identity) CreateUser(ctx context.Context, nu ports.NewUser) (*ports.User, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	u := ports.User{
		ID: doctype.NewUUIDv7(), Email: normalizeEmail(nu.Email), DisplayName: nu.DisplayName, TenantID: tid,
		Roles: slices.Clone(nu.Roles), Attributes: maps.Clone(nu.Attributes), IsActive: true,
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	a := &account{user: u}
	if nu.Password != "" {
		a.setPassword(nu.Password)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.byEmail(tid, u.Email) != nil {
		return nil, core.Public(core.ErrConflict, "a user with this email already exists")
	}
	i.tenant(tid)[u.ID] = a
	out := copyUser(u)
	return &out, nil
}

// CheckPassword returns the active user with email if password is theirs;
// anything else is core.ErrUnauthorized, after the same work.
func (i *Identity) CheckPassword(ctx context.Context, email, password string) (*ports.User, error) {
	a, err := i.accountByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	if a == nil {
		(&account{}).checkPassword(password) // the same work as for a known user
		return nil, errBadCredentials
	}
	if !a.checkPassword(password) || !a.user.IsActive {
		return nil, errBadCredentials
	}
	return &a.user, nil
}

// VerifyPassword checks id's password: core.ErrNotFound for an unknown user,
// core.ErrUnauthorized for a wrong password.
func (i *Identity) VerifyPassword(ctx context.Context, id, password string) error {
	return i.withUser(ctx, id, func(_ map[string]*account, a *account) error {
		if !a.checkPassword(password) {
			return errBadCredentials
		}
		return nil
	})
}

// SetPassword replaces id's password and bumps its token version.
func (i *Identity) SetPassword(ctx context.Context, id, password string) error {
	return i.withUser(ctx, id, func(_ map[string]*account, a *account) error {
		a.setPassword(password)
		a.user.TokenVersion++
		return nil
	})
}

// BumpTokenVersion makes every token issued to id so far invalid.
func (i *Identity) BumpTokenVersion(ctx context.Context, id string) error {
	return i.withUser(ctx, id, func(_ map[string]*account, a *account) error {
		a.user.TokenVersion++
		return nil
	})
}

// DeleteUser removes id, or anonymizes it as the local provider does:
// personal data replaced, password removed, account disabled, token version
// bumped.
func (i *Identity) DeleteUser(ctx context.Context, id string, anonymize bool) error {
	return i.withUser(ctx, id, func(users map[string]*account, a *account) error {
		if !anonymize {
			delete(users, id)
			return nil
		}
		a.user.Email = "deleted-" + id + "@invalid"
		a.user.DisplayName = "Deleted user"
		a.user.IsActive = false
		a.user.Roles = []string{}
		a.user.Attributes = map[string]any{}
		a.user.TokenVersion++
		a.salt, a.digest = nil, nil
		return nil
	})
}

// CountUsers returns how many users the tenant in ctx has.
func (i *Identity) CountUsers(ctx context.Context) (int64, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return 0, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return int64(len(i.users[tid])), nil
}

// accountByEmail returns a copy of the account of the tenant in ctx with
// email (in any case), or nil.
func (i *Identity) accountByEmail(ctx context.Context, email string) (*account, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	a := i.byEmail(tid, normalizeEmail(email))
	if a == nil {
		return nil, nil
	}
	c := *a // salt and digest are replaced, never changed in place
	c.user = copyUser(a.user)
	return &c, nil
}

// withUser runs fn, holding i.mu, on user id of the tenant in ctx and the
// tenant's users; an unknown id is core.ErrNotFound.
func (i *Identity) withUser(ctx context.Context, id string, fn func(users map[string]*account, a *account) error) error {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	a := i.users[tid][id]
	if a == nil {
		return errUserNotFound
	}
	return fn(i.users[tid], a)
}

// tenant returns tenant tid's users, creating the map. i.mu must be held.
func (i *Identity) tenant(tid string) map[string]*account {
	m := i.users[tid]
	if m == nil {
		m = map[string]*account{}
		i.users[tid] = m
	}
	return m
}

// byEmail returns tenant tid's user with a normalized email. i.mu must be held.
func (i *Identity) byEmail(tid, email string) *account {
	if email == "" {
		return nil
	}
	for _, a := range i.users[tid] {
		if a.user.Email == email {
			return a
		}
	}
	return nil
}

func (a *account) setPassword(password string) {
	a.salt = make([]byte, 16)
	_, _ = rand.Read(a.salt)
	a.digest = digest(a.salt, password)
}

// checkPassword reports whether password is a's; always one digest of work.
func (a *account) checkPassword(password string) bool {
	d := digest(a.salt, password)
	return a.digest != nil && subtle.ConstantTimeCompare(d, a.digest) == 1
}

func digest(salt []byte, password string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return h.Sum(nil)
}

func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func copyUser(u ports.User) ports.User {
	u.Roles = slices.Clone(u.Roles)
	u.Attributes = maps.Clone(u.Attributes)
	return u
}

var _ ports.LocalIdentity = (*Identity)(nil)
