// Package federated is the identity of enterprise mode: no user table; users
// arrive in headers from a trusted gateway, and only their preferences are kept
// locally (the User Preferences DocType).
package federated

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// Provider is a ports.IdentityProvider and ports.HeaderHydrator over gateway headers.
type Provider struct{ h config.Headers }

// New returns a provider reading the header names of cfg.
func New(cfg config.Headers) *Provider { return &Provider{h: cfg} }

var errBad = func(what string) error {
	return core.Publicf(core.ErrUnauthorized, "malformed gateway header %s", what)
}

func clean(s string, max int) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > max || !utf8.ValidString(s) {
		return "", false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return "", false
		}
	}
	return s, true
}

// HydrateFromHeaders builds the principal from the gateway headers: user id
// (required), email, display name, roles (comma-separated) and attributes (a
// JSON object; its "roles" join the roles).
func (p *Provider) HydrateFromHeaders(h http.Header) (*ports.UserContext, error) {
	id, ok := clean(h.Get(p.h.UserID), 140)
	if !ok || id == "" || strings.ContainsRune(id, '/') || id == ports.SystemUser.ID {
		return nil, errBad(p.h.UserID)
	}
	u := &ports.UserContext{ID: id, Method: "header"}
	if u.Email, ok = clean(h.Get(p.h.Email), 254); !ok {
		return nil, errBad(p.h.Email)
	}
	if u.DisplayName, ok = clean(h.Get(p.h.DisplayName), 140); !ok {
		return nil, errBad(p.h.DisplayName)
	}
	if raw := h.Get(p.h.Roles); raw != "" {
		for _, r := range strings.Split(raw, ",") {
			r, ok := clean(r, 64)
			if !ok {
				return nil, errBad(p.h.Roles)
			}
			if r != "" && r != ports.RoleSystem {
				u.Roles = append(u.Roles, r)
			}
		}
	}
	if raw := h.Get(p.h.Attributes); raw != "" {
		if len(raw) > 8192 || json.Unmarshal([]byte(raw), &u.Attributes) != nil || u.Attributes == nil {
			return nil, errBad(p.h.Attributes)
		}
		// Roles may come as an attribute too; they join the roles header's, and
		// never include System (a gateway cannot make a framework principal).
		if rs, ok := u.Attributes["roles"]; ok {
			list, ok := rs.([]any)
			if !ok {
				return nil, errBad(p.h.Attributes)
			}
			for _, r := range list {
				name, ok := r.(string)
				if !ok {
					return nil, errBad(p.h.Attributes)
				}
				if name != "" && name != ports.RoleSystem && !slices.Contains(u.Roles, name) {
					u.Roles = append(u.Roles, name)
				}
			}
			u.Attributes["roles"] = slices.Clone(u.Roles)
		}
	}
	return u, nil
}

// IdentityHeaders lists the headers the provider reads.
func (p *Provider) IdentityHeaders() []string {
	return []string{p.h.UserID, p.h.Email, p.h.DisplayName, p.h.Roles, p.h.Attributes}
}

// GetUser returns a user known only by id (there is no user table).
func (p *Provider) GetUser(ctx context.Context, id string) (*ports.User, error) {
	return &ports.User{ID: id, TenantID: ports.TenantIDFrom(ctx), IsActive: true}, nil
}

// Authenticate is not supported: the gateway authenticates.
func (p *Provider) Authenticate(context.Context, ports.Credentials) (*ports.Token, error) {
	return nil, core.Public(core.ErrNotSupported, "federated identity: the gateway authenticates")
}

// Attributes returns the user's attributes with their roles.
func (p *Provider) Attributes(_ context.Context, u *ports.User) map[string]any {
	out := map[string]any{}
	for k, v := range u.Attributes {
		out[k] = v
	}
	out["roles"] = u.Roles
	return out
}

var (
	_ ports.IdentityProvider = (*Provider)(nil)
	_ ports.HeaderHydrator   = (*Provider)(nil)
)
