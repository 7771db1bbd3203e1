package ports

import (
	"context"
	"slices"
	"strings"
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
	// PasswordChangeRequired is set when an admin reset the password to a
	// temporary one: the user may log in with it but must choose a new
	// password before doing anything else. Setting a password clears it.
	PasswordChangeRequired bool `json:"password_change_required,omitempty"`
	// LastLoginAt is when the user last logged in with a password (local users).
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
	// LastSeenAt is when a gateway last vouched for the user (federated users).
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
}

// Context returns the UserContext of u authenticated by method.
func (u *User) Context(method string) *UserContext {
	return &UserContext{
		ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, TenantID: u.TenantID,
		Roles: u.Roles, Attributes: u.Attributes, Method: method,
		PasswordChangeRequired: u.PasswordChangeRequired,
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

// MagicLinkCredentials are the signed token of a sign-in link sent by email
// (POST /api/v1/auth/magic-link). The token is bound to one tenant, one user
// and that user's token version, expires, and works once.
type MagicLinkCredentials struct {
	Token string
}

// CredentialKind is "magic_link".
func (MagicLinkCredentials) CredentialKind() string { return "magic_link" }

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

// MaxUserPage caps UserFilter.Limit.
const MaxUserPage = 1000

// DefaultUserPage is UserFilter.Limit when it is 0.
const DefaultUserPage = 20

// UserFilter selects a page of the users of the tenant in ctx, ordered by
// email (then id). Every condition set must hold.
type UserFilter struct {
	// Role keeps users holding exactly this role (case-sensitive).
	Role string
	// Enabled keeps active (true) or disabled (false) users; nil keeps both.
	Enabled *bool
	// Search keeps users whose email or display name contains it, ignoring
	// case (Unicode simple folding; a repository that narrows with SQL LIKE
	// may miss non-ASCII case variants on SQLite).
	Search string
	// Limit is the page size, 1 to MaxUserPage (0: DefaultUserPage).
	Limit int
	// Offset skips that many matching users.
	Offset int
}

// Matches reports whether u passes f's conditions (not its paging): the
// exact rule every UserDirectory and SeenUserStore applies.
func (f UserFilter) Matches(u *User) bool {
	if u == nil {
		return false
	}
	if f.Enabled != nil && u.IsActive != *f.Enabled {
		return false
	}
	if f.Role != "" && !slices.Contains(u.Roles, f.Role) {
		return false
	}
	if f.Search != "" {
		needle := strings.ToLower(f.Search)
		if !strings.Contains(strings.ToLower(u.Email), needle) && !strings.Contains(strings.ToLower(u.DisplayName), needle) {
			return false
		}
	}
	return true
}

// UserPage is one page of users and the number of all that match.
type UserPage struct {
	Users []*User
	// Total counts every matching user, ignoring Limit and Offset.
	Total int64
}

// UserChanges is a partial change of a user; nil fields stay as they are.
type UserChanges struct {
	DisplayName *string
	IsActive    *bool
	// Roles replaces the user's roles when not nil.
	Roles []string
}

// UserLister reads the users of the tenant in ctx, never their password
// hashes: another tenant's user is core.ErrNotFound.
type UserLister interface {
	// ListUsers returns the page of users f selects and how many match in
	// all, applying exactly f.Matches.
	ListUsers(ctx context.Context, f UserFilter) (*UserPage, error)
	// GetUser returns user id, or core.ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
}

// UserDirectory is implemented by local identities whose users an
// administrator manages (ports.LocalIdentity providers that keep a user
// table). Every method works in the tenant of ctx.
type UserDirectory interface {
	UserLister
	// UpdateUser applies ch to user id and returns the user as stored.
	UpdateUser(ctx context.Context, id string, ch UserChanges) (*User, error)
	// SetTemporaryPassword replaces id's password with password (hashed),
	// marks it PasswordChangeRequired and bumps the token version. SetPassword
	// clears the mark.
	SetTemporaryPassword(ctx context.Context, id, password string) error
}

// SeenUserStore keeps the users of federated identity a gateway has vouched
// for, as it last described them, with LastSeenAt: a read-only directory of
// users the app never stores otherwise (they are all enabled). Every method
// works in the tenant of ctx.
type SeenUserStore interface {
	UserLister
	// RecordSeen stores users (ID, Email, DisplayName, Roles, LastSeenAt),
	// creating or updating each with at most one write; a LastSeenAt older than
	// the stored one does not move it back.
	RecordSeen(ctx context.Context, users []User) error
}
