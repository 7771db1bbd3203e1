// Package basic is the auth strategy of HTTP basic auth (email and password),
// for CLI tools. Each request costs a password hash, so it is throttled like login.
package basic

import (
	"context"
	"net/http"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// Strategy authenticates by HTTP basic auth.
type Strategy struct{ svc *auth.Service }

// New returns the strategy.
func New(svc *auth.Service) *Strategy { return &Strategy{svc: svc} }

// Name is "basic".
func (s *Strategy) Name() string { return "basic" }

// Supports reports whether an Authorization: Basic header is present.
func (s *Strategy) Supports(h http.Header) bool {
	v := h.Get("Authorization")
	return len(v) >= 6 && strings.EqualFold(v[:6], "basic ")
}

// Authenticate checks the email and password.
func (s *Strategy) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	email, password, ok := (&http.Request{Header: h}).BasicAuth()
	if !ok || email == "" {
		return nil, core.Public(core.ErrUnauthorized, "malformed basic credentials")
	}
	return s.svc.BasicUser(ctx, email, password, ports.ClientIPFrom(ctx))
}

var _ ports.Authenticator = (*Strategy)(nil)
