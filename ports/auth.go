package ports

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Well-known role names.
const (
	// RoleAdmin is the role that administers an app: it bypasses DocType rules
	// (unless configured otherwise) and may use admin-only routes.
	RoleAdmin = "Admin"
	// RoleSystem marks a non-human principal acting for the framework itself.
	RoleSystem = "System"
	// RoleAll is held by every authenticated principal: a rule for RoleAll
	// grants its actions to everyone who is logged in.
	RoleAll = "All"
)

// UserContext is the authenticated principal of a request. Every authentication
// strategy resolves to one, whatever credential it read.
type UserContext struct {
	// ID is the stable user id (LocalUser name, or the gateway's X-User-ID).
	ID string `json:"id"`
	// Email is the user's email address, when known.
	Email string `json:"email,omitempty"`
	// DisplayName is the name shown in user interfaces.
	DisplayName string `json:"display_name,omitempty"`
	// TenantID is the tenant the user belongs to; empty means the default tenant.
	TenantID string `json:"tenant_id,omitempty"`
	// Roles lists the user's roles.
	Roles []string `json:"roles,omitempty"`
	// Attributes carries ABAC attributes such as department or level.
	// attributes["roles"] is honoured by HasRole as well.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Method names the strategy that authenticated the request (bearer, api_key …).
	Method string `json:"method,omitempty"`
	// Scopes limits what the credential may do (API keys); empty means no limit.
	// A scope is "*", an action ("read"), "DocType:action", "DocType:*" or
	// "*:action".
	Scopes []string `json:"scopes,omitempty"`
	// SessionID is the session handle when a session cookie authenticated the request.
	SessionID string `json:"-"`
	// CSRFHash is the SHA-256 (hex) of the session's CSRF token.
	CSRFHash string `json:"-"`
	// TokenID is the jti of the bearer token that authenticated the request.
	TokenID string `json:"-"`
	// TokenExpiresAt is when that token expires.
	TokenExpiresAt time.Time `json:"-"`
	// AuthenticatedAt is when the user last proved who they are with this
	// credential (token issue, session start, the password itself); zero when
	// unknown.
	AuthenticatedAt time.Time `json:"-"`
	// PasswordChangeRequired is set while the user logs in with a temporary
	// password an admin set: the web adapter then refuses every route but
	// changing the password, /auth/me and logging out.
	PasswordChangeRequired bool `json:"password_change_required,omitempty"`
}

// ScopeAllows reports whether the credential's scopes permit action on
// doctype. No scopes means no restriction beyond the user's own permissions.
func (u *UserContext) ScopeAllows(doctype string, action Action) bool {
	if u == nil || len(u.Scopes) == 0 {
		return true
	}
	for _, s := range u.Scopes {
		if s == "*" || s == string(action) {
			return true
		}
		dt, act, ok := strings.Cut(s, ":")
		if ok && (dt == "*" || dt == doctype) && (act == "*" || act == string(action)) {
			return true
		}
	}
	return false
}

// Scoped reports whether the credential carries scopes (a restricted API key).
func (u *UserContext) Scoped() bool { return u != nil && len(u.Scopes) > 0 }

// GetAttribute returns the attribute key, or def when it is absent.
func (u *UserContext) GetAttribute(key string, def any) any {
	if u == nil {
		return def
	}
	if v, ok := u.Attributes[key]; ok {
		return v
	}
	return def
}

// HasAttribute reports whether attribute key is present and equal to value.
func (u *UserContext) HasAttribute(key string, value any) bool {
	if u == nil {
		return false
	}
	v, ok := u.Attributes[key]
	return ok && v == value
}

// HasRole reports whether the user has role, either in Roles or in
// Attributes["roles"] (a []string or []any of strings).
func (u *UserContext) HasRole(role string) bool {
	if u == nil {
		return false
	}
	if slices.Contains(u.Roles, role) {
		return true
	}
	switch rs := u.Attributes["roles"].(type) {
	case []string:
		return slices.Contains(rs, role)
	case []any:
		for _, r := range rs {
			if s, ok := r.(string); ok && s == role {
				return true
			}
		}
	case string:
		return rs == role
	}
	return false
}

// AllRoles returns the union of Roles and Attributes["roles"].
func (u *UserContext) AllRoles() []string {
	if u == nil {
		return nil
	}
	out := slices.Clone(u.Roles)
	add := func(r string) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	switch rs := u.Attributes["roles"].(type) {
	case []string:
		for _, r := range rs {
			add(r)
		}
	case []any:
		for _, r := range rs {
			if s, ok := r.(string); ok {
				add(s)
			}
		}
	case string:
		add(rs)
	}
	return out
}

// IsSystemUser reports whether the principal is the framework itself.
func (u *UserContext) IsSystemUser() bool { return u.HasRole(RoleSystem) }

// HasAnyRole reports whether the user has one of roles (see HasRole).
func (u *UserContext) HasAnyRole(roles []string) bool {
	for _, r := range roles {
		if u.HasRole(r) {
			return true
		}
	}
	return false
}

// IsAdmin reports whether the principal has the Admin role.
func (u *UserContext) IsAdmin() bool { return u.HasRole(RoleAdmin) }

// SystemUser is the principal used by framework-internal writes (error logs,
// migrations, background jobs).
var SystemUser = UserContext{ID: "system", DisplayName: "System", Roles: []string{RoleSystem, RoleAdmin}, Method: "system"}

// Authenticator is one authentication strategy in the auth chain.
//
// The chain asks each strategy in configured order whether it Supports the request
// (a credential of its kind is present); the first that does decides: its
// Authenticate result is final, and an error there is a 401, never a fall-through
// to the next strategy.
type Authenticator interface {
	// Name is the strategy's configuration name (bearer, api_key, …).
	Name() string
	// Supports reports whether the request carries a credential of this kind.
	Supports(h http.Header) bool
	// Authenticate validates the credential and returns the principal. An invalid
	// credential returns an error wrapping core.ErrUnauthorized.
	Authenticate(ctx context.Context, h http.Header) (*UserContext, error)
}

type userKey struct{}

// WithUser returns a context carrying u as the request principal.
func WithUser(ctx context.Context, u *UserContext) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the principal carried by ctx, or nil for an anonymous request.
func UserFrom(ctx context.Context) *UserContext {
	u, _ := ctx.Value(userKey{}).(*UserContext)
	return u
}

type peerKey struct{}

// WithPeerAddr returns a context carrying the network address of the direct peer
// (the TCP remote address, not a forwarded one). Strategies that trust gateway
// headers read it to check the peer is a trusted proxy.
func WithPeerAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, peerKey{}, addr)
}

type clientIPKey struct{}

// WithClientIP returns a context carrying the client's IP address: the direct
// peer, or the address a trusted proxy forwarded.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFrom returns the client IP carried by ctx, or "".
func ClientIPFrom(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey{}).(string)
	return s
}

// HeaderHydrator builds a principal from trusted gateway headers (federated identity).
type HeaderHydrator interface {
	// HydrateFromHeaders returns the principal the headers describe; malformed
	// headers are core.ErrUnauthorized.
	HydrateFromHeaders(h http.Header) (*UserContext, error)
	// IdentityHeaders lists the header names it reads (they are dropped from
	// requests of untrusted peers).
	IdentityHeaders() []string
}

// PeerAddrFrom returns the direct peer address carried by ctx, or "".
func PeerAddrFrom(ctx context.Context) string {
	s, _ := ctx.Value(peerKey{}).(string)
	return s
}
