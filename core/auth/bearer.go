package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Bearer is the auth strategy of access tokens, "Authorization: Bearer
// <token>", verified by the configured ports.TokenService. The credential's
// whole check — signature and claims, tenant, revocation, the user's token
// version — lives in this file.
type Bearer struct{ svc *Service }

// NewBearer returns the bearer strategy over svc's tokens, revocations and users.
func NewBearer(svc *Service) *Bearer { return &Bearer{svc: svc} }

// Name is "bearer".
func (s *Bearer) Name() string { return "bearer" }

func bearerToken(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(v[7:]), true
}

// Supports reports whether an Authorization: Bearer header is present.
func (s *Bearer) Supports(h http.Header) bool {
	_, ok := bearerToken(h)
	return ok
}

// Authenticate verifies the token.
func (s *Bearer) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	t, _ := bearerToken(h)
	return s.svc.BearerUser(ctx, t)
}

// BearerUser verifies an access token: signature and claims, its tenant (the
// request's), that it was not revoked, and that the user is active and has not
// invalidated older tokens since.
func (s *Service) BearerUser(ctx context.Context, raw string) (*ports.UserContext, error) {
	if s.Tokens == nil {
		return nil, core.Public(core.ErrUnauthorized, "bearer tokens are not enabled")
	}
	c, err := s.Tokens.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if c.TenantID != ports.TenantIDFrom(ctx) {
		return nil, core.Public(core.ErrUnauthorized, "token of another tenant")
	}
	if s.Revocations != nil {
		revoked, err := s.isRevoked(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("check revocation: %w", err)
		}
		if revoked {
			return nil, core.Public(core.ErrUnauthorized, "token revoked")
		}
	}
	u, uc, err := s.activeUser(ctx, c.Subject, "bearer")
	if err != nil {
		return nil, err
	}
	if c.TokenVersion != u.TokenVersion {
		return nil, core.Public(core.ErrUnauthorized, "token no longer valid; log in again")
	}
	uc.TokenID, uc.TokenExpiresAt, uc.AuthenticatedAt = c.ID, c.ExpiresAt, c.IssuedAt
	return uc, nil
}

// isRevoked asks the revocations whether token id was revoked, through the
// cache when there is one.
func (s *Service) isRevoked(ctx context.Context, id string) (bool, error) {
	if s.Revoked == nil {
		return s.Revocations.IsRevoked(ctx, id)
	}
	return s.Revoked.Get(ctx, id, func(ctx context.Context) (bool, error) { return s.Revocations.IsRevoked(ctx, id) })
}

var _ ports.Authenticator = (*Bearer)(nil)
