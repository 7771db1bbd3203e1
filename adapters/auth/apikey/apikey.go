// Package apikey is the auth strategy of API keys sent as "X-API-Key: fmk_…".
package apikey

import (
	"context"
	"net/http"
	"strings"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// Header carries the key.
const Header = "X-API-Key"

// Strategy authenticates by API key.
type Strategy struct{ svc *auth.Service }

// New returns the strategy.
func New(svc *auth.Service) *Strategy { return &Strategy{svc: svc} }

// Name is "api_key".
func (s *Strategy) Name() string { return "api_key" }

// Supports reports whether X-API-Key is present.
func (s *Strategy) Supports(h http.Header) bool { return h.Get(Header) != "" }

// Authenticate verifies the key.
func (s *Strategy) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	return s.svc.APIKeyUser(ctx, strings.TrimSpace(h.Get(Header)))
}

var _ ports.Authenticator = (*Strategy)(nil)
