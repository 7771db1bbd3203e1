package doctypes

import (
	"errors"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// LocalUser is a user of indie mode: minimal personal data (an email to log in
// and be notified, a display name) and an argon2id password hash that is never
// serialized. Admins manage users through the resource API; nobody reads hashes.
type LocalUser struct {
	doctype.Base
	Email       string             `json:"email" gorm:"size:254"`
	DisplayName string             `json:"display_name"`
	IsActive    bool               `json:"is_active"`
	Roles       doctype.StringList `json:"roles"`
	Attributes  doctype.JSONMap    `json:"attributes"`
	// PasswordHash is the argon2id hash; empty means no password login.
	PasswordHash string `json:"-"`
	// TokenVersion grows to invalidate every token issued before.
	TokenVersion int64 `json:"-"`
	// LastLoginAt is when the user last logged in with a password.
	LastLoginAt *time.Time `json:"last_login_at"`
	// PasswordChangeRequired is set by an admin's password reset (POST
	// /api/v1/users/{id}/reset-password) and cleared when the user sets a new
	// password. Like the hash it is the framework's: never accepted from
	// clients, shown by /api/v1/users (and to the user at login and /auth/me).
	PasswordChangeRequired bool `json:"-" gorm:"not null;default:false"`
}

// LocalUserDocType is LocalUser's DocType name.
const LocalUserDocType = "Local User"

// LocalUserMeta describes LocalUser: emails unique per tenant; admins only
// (users see themselves through /api/v1/auth/me). Admins manage users through
// /api/v1/users, where the rules of user administration apply (last admin,
// own admin role, sessions ended on disable).
var LocalUserMeta = doctype.Meta{
	Name:        LocalUserDocType,
	Description: "Users of local (indie) identity.",
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Write | doctype.Delete}},
	Unique:      [][]string{{"email"}},
	ReadOnly:    []string{"last_login_at"},
	Filterable:  []string{"email", "display_name", "is_active", "created_at", "last_login_at"},
	// Roles and attributes grant permissions: only admins set them (unless
	// [permissions] restrict_permission_changes is off).
	AdminFields: []string{"roles", "attributes"},
}

// Validate keeps user records sound however they are written (the resource
// API included): a valid email, stored lower-cased so logins and the unique
// index agree; no System role (the framework's own principal) or empty role.
func (u *LocalUser) Validate() error {
	email, err := auth.NormalizeEmail(u.Email)
	if err != nil {
		return err
	}
	u.Email = email
	for _, r := range u.Roles {
		if r == "" || r == ports.RoleSystem {
			return core.Invalidf("roles", "%q cannot be given to a user", r)
		}
	}
	if rs, ok := u.Attributes["roles"]; ok && rs != nil {
		return core.Invalid("attributes", `roles belong in "roles", not in attributes`)
	}
	return nil
}

// APIKey is an API key record: the key is shown once at creation; only its
// SHA-256 is kept. The document name is the key's public lookup prefix.
type APIKey struct {
	doctype.Base
	UserID     string             `json:"user_id" gorm:"size:140"`
	Label      string             `json:"label"`
	Scopes     doctype.StringList `json:"scopes"`
	ExpiresAt  *time.Time         `json:"expires_at"`
	LastUsedAt *time.Time         `json:"last_used_at"`
	KeyHash    string             `json:"-"`
}

// APIKeyDocType is APIKey's DocType name.
const APIKeyDocType = "API Key"

// APIKeyMeta describes APIKey: written by the framework only.
var APIKeyMeta = doctype.Meta{
	Name:        APIKeyDocType,
	SecretNames: true,
	NotAudited:  true,
	Description: "API keys (hashes only); manage them at /api/v1/auth/api-keys.",
	Immutable:   true,
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete}},
	Indexes:     [][]string{{"user_id"}},
}

// RevokedToken remembers a revoked access token (by jti) until it expires.
type RevokedToken struct {
	doctype.Base
	UserID    string    `json:"user_id" gorm:"size:140"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RevokedTokenDocType is RevokedToken's DocType name.
const RevokedTokenDocType = "Revoked Token"

// RevokedTokenMeta describes RevokedToken: framework-written, admin-readable.
var RevokedTokenMeta = doctype.Meta{
	Name:        RevokedTokenDocType,
	SecretNames: true,
	NotAudited:  true,
	Description: "Access tokens revoked before their expiry (logout).",
	Immutable:   true,
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read}},
	Indexes:     [][]string{{"expires_at"}},
}

// SocialAccount links a user to an account at an OAuth2/OIDC provider.
type SocialAccount struct {
	doctype.Base
	Provider       string `json:"provider" gorm:"size:64"`
	ProviderUserID string `json:"provider_user_id" gorm:"size:255"`
	UserID         string `json:"user_id" gorm:"size:140"`
	Email          string `json:"email" gorm:"size:254"`
	DisplayName    string `json:"display_name"`
}

// SocialAccountDocType is SocialAccount's DocType name.
const SocialAccountDocType = "Social Account"

// SocialAccountMeta describes SocialAccount: one provider identity per user link.
var SocialAccountMeta = doctype.Meta{
	Name:        SocialAccountDocType,
	Description: "Accounts at OAuth2/OIDC providers linked to users.",
	Immutable:   true,
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete}},
	Unique:      [][]string{{"provider", "provider_user_id"}},
	Indexes:     [][]string{{"user_id"}},
}

// UserPreferences keeps a user's settings locally — also in federated mode,
// where the user itself lives at the identity provider. Named by user id.
type UserPreferences struct {
	doctype.Base
	UserID   string          `json:"user_id" gorm:"size:140"`
	Language string          `json:"language" gorm:"size:16"`
	Timezone string          `json:"timezone" gorm:"size:64"`
	Theme    string          `json:"theme" gorm:"size:32"`
	Settings doctype.JSONMap `json:"settings"`
}

// OwnerDefaults makes new preferences the owner's: user_id (and so the
// name) is the user who creates them.
func (p *UserPreferences) OwnerDefaults(owner string) {
	if p.UserID == "" {
		p.UserID = owner
	}
}

// UserPreferencesDocType is UserPreferences' DocType name.
const UserPreferencesDocType = "User Preferences"

// UserPreferencesMeta describes UserPreferences: each user reads and writes only their own.
var UserPreferencesMeta = doctype.Meta{
	Name:        UserPreferencesDocType,
	Description: "Per-user settings kept locally.",
	Naming:      "field:user_id",
	Permissions: []doctype.Rule{
		{Role: ports.RoleAll, Actions: doctype.Read | doctype.Write | doctype.Create | doctype.Delete, IfOwner: true},
	},
	ReadOnly: []string{"user_id"},
}

// FederatedUser is a user of federated identity as the gateway last
// described them, recorded from authenticated requests in batches (at most
// one write per user per flush): the read-only user list of federated mode.
// Named by the gateway's user id.
type FederatedUser struct {
	doctype.Base
	UserID      string             `json:"user_id" gorm:"size:140"`
	Email       string             `json:"email" gorm:"size:254"`
	DisplayName string             `json:"display_name"`
	Roles       doctype.StringList `json:"roles"`
	LastSeenAt  time.Time          `json:"last_seen_at"`
}

// FederatedUserDocType is FederatedUser's DocType name.
const FederatedUserDocType = "Federated User"

// FederatedUserMeta describes FederatedUser: written by the framework only,
// read by admins (GET /api/v1/users).
var FederatedUserMeta = doctype.Meta{
	Name:        FederatedUserDocType,
	Description: "Users seen through gateway headers (federated mode), with their last seen time.",
	Naming:      "field:user_id",
	Immutable:   true,
	Permissions: []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read}},
	Indexes:     [][]string{{"email"}, {"last_seen_at"}},
}

// RegisterIdentity adds the identity DocTypes to reg: user preferences
// always; the Local User table, API keys, revoked tokens and social accounts
// when localUsers (every auth mode but federated), else the Federated User
// table.
func RegisterIdentity(reg *doctype.Registry, localUsers bool) error {
	var errs []error
	add := func(_ *doctype.DocType, err error) { errs = append(errs, err) }
	if localUsers {
		add(doctype.Register[LocalUser](reg, LocalUserMeta))
		add(doctype.Register[APIKey](reg, APIKeyMeta))
		add(doctype.Register[RevokedToken](reg, RevokedTokenMeta))
		add(doctype.Register[SocialAccount](reg, SocialAccountMeta))
	} else {
		add(doctype.Register[FederatedUser](reg, FederatedUserMeta))
	}
	add(doctype.Register[UserPreferences](reg, UserPreferencesMeta))
	return errors.Join(errs...)
}
