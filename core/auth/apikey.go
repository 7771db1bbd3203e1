package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// HeaderAPIKey carries an API key: "X-API-Key: fmk_…".
const HeaderAPIKey = "X-API-Key"

// APIKey is the auth strategy of API keys sent in X-API-Key.
type APIKey struct{ svc *Service }

// NewAPIKey returns the API key strategy over svc's keys and users.
func NewAPIKey(svc *Service) *APIKey { return &APIKey{svc: svc} }

// Name is "api_key".
func (s *APIKey) Name() string { return "api_key" }

// Supports reports whether X-API-Key is present.
func (s *APIKey) Supports(h http.Header) bool { return h.Get(HeaderAPIKey) != "" }

// Authenticate verifies the key.
func (s *APIKey) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	return s.svc.APIKeyUser(ctx, strings.TrimSpace(h.Get(HeaderAPIKey)))
}

// APIKeyUser verifies an API key; the principal carries the key's scopes.
func (s *Service) APIKeyUser(ctx context.Context, key string) (*ports.UserContext, error) {
	if s.APIKeys == nil {
		return nil, core.Public(core.ErrUnauthorized, "API keys are not enabled")
	}
	rec, err := s.APIKeys.Verify(ctx, key)
	if err != nil {
		return nil, err
	}
	_, uc, err := s.activeUser(ctx, rec.UserID, "api_key")
	if err != nil {
		return nil, err
	}
	uc.Scopes = rec.Scopes
	// An API key is a credential of its own, not the password: a temporary
	// password waiting to be changed does not stop it (as a password change
	// leaves keys working).
	uc.PasswordChangeRequired = false
	return uc, nil
}

var _ ports.Authenticator = (*APIKey)(nil)
