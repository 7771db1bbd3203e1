package ports

import (
	"context"
	"time"
)

// User is a user as an IdentityProvider knows it.
type User struct {
	ID          string         `json:"id"`
	Email       string         `json:"email,omitempty"`
	DisplayName string         `json:"display_name,omitempty"`
	TenantID    string         `json:"tenant_id,omitempty"`
	Roles       []string       `json:"roles,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	IsActive    bool           `json:"is_active"`
	// TokenVersion grows when every older token of the user must stop working
	// (password change, log out everywhere).
	TokenVersion int64 `json:"-"`
}

// Context returns the UserContext of u authenticated by method.
func (u *User) Context(method string) *UserContext {
	return &UserContext{
		ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, TenantID: u.TenantID,
		Roles: u.Roles, Attributes: u.Attributes, Method: method,
	}
}

// Credentials are what a user presents to log in.
type Credentials interface {
	// CredentialKind names the kind ("password", "magic_link" …).
	CredentialKind() string
}

// PasswordCredentials are an email address and a password.
type PasswordCredentials struct {
	Email    string
	Password string
}

// CredentialKind is "password".
func (PasswordCredentials) CredentialKind() string { return "password" }

// Token is an issued access token.
type Token struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresIn   int64     `json:"expires_in"`
	ExpiresAt   time.Time `json:"expires_at"`
	// UserID is the subject of the token.
	UserID string `json:"-"`
	// ID is the token's unique id (jti).
	ID string `json:"-"`
}

// IdentityProvider is where users come from: a local user table (indie mode) or
// a gateway in front of the app (enterprise mode).
type IdentityProvider interface {
	// GetUser returns the user id of the tenant in ctx (core.ErrNotFound if none).
	GetUser(ctx context.Context, id string) (*User, error)
	// Authenticate checks credentials and issues a token. Bad credentials are
	// core.ErrUnauthorized, never a hint of which part was wrong.
	Authenticate(ctx context.Context, creds Credentials) (*Token, error)
	// Attributes returns the user's ABAC attributes (roles included as "roles").
	Attributes(ctx context.Context, u *User) map[string]any
}

// NewUser describes a user to create in a local user store.
type NewUser struct {
	Email       string
	Password    string
	DisplayName string
	Roles       []string
	Attributes  map[string]any
}

// LocalIdentity is implemented by providers that keep users and passwords
// themselves (indie mode).
type LocalIdentity interface {
	IdentityProvider
	// CreateUser stores a new user; the password is hashed, never stored.
	CreateUser(ctx context.Context, nu NewUser) (*User, error)
	// FindByEmail returns the active or inactive user with email (case-insensitive).
	FindByEmail(ctx context.Context, email string) (*User, error)
	// CheckPassword returns the active user with email if password is theirs.
	// Any failure (unknown email, wrong password, inactive user) is
	// core.ErrUnauthorized after the same work — one password hash — so timing
	// does not tell which. A hash made with weaker parameters than configured is
	// replaced on success.
	CheckPassword(ctx context.Context, email, password string) (*User, error)
	// VerifyPassword checks id's password; a wrong one is core.ErrUnauthorized.
	VerifyPassword(ctx context.Context, id, password string) error
	// SetPassword replaces id's password and bumps its token version.
	SetPassword(ctx context.Context, id, password string) error
	// BumpTokenVersion makes every token issued to id so far invalid.
	BumpTokenVersion(ctx context.Context, id string) error
	// DeleteUser removes id, or anonymizes it (anonymize true): personal data
	// replaced, password removed, account disabled.
	DeleteUser(ctx context.Context, id string, anonymize bool) error
	// CountUsers returns how many users the tenant in ctx has.
	CountUsers(ctx context.Context) (int64, error)
}

// Claims are what a verified access token says.
type Claims struct {
	Subject      string
	TenantID     string
	ID           string // jti
	TokenVersion int64
	IssuedAt     time.Time
	ExpiresAt    time.Time
}

// TokenService issues and verifies access tokens.
type TokenService interface {
	// Issue signs a new access token for u.
	Issue(ctx context.Context, u *User) (*Token, error)
	// Verify checks raw's signature (with a pinned algorithm), issuer, audience,
	// expiry and not-before, and returns its claims. Any failure is
	// core.ErrUnauthorized.
	Verify(ctx context.Context, raw string) (*Claims, error)
	// JWKS returns the public keys as a JSON Web Key Set, or ok=false when tokens
	// are signed with a shared secret (nothing to publish).
	JWKS() (set []byte, ok bool)
}

// TokenRevocations remembers revoked token ids until the tokens expire.
type TokenRevocations interface {
	// Revoke records that token id (of userID, expiring at exp) no longer works.
	Revoke(ctx context.Context, id, userID string, exp time.Time) error
	// IsRevoked reports whether token id was revoked.
	IsRevoked(ctx context.Context, id string) (bool, error)
}
