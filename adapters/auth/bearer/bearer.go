// Package bearer is the auth strategy of access tokens: "Authorization: Bearer
// <token>", verified by the configured ports.TokenService.
package bearer

import (
	"context"
	"net/http"
	"strings"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// Strategy authenticates by bearer token.
type Strategy struct{ svc *auth.Service }

// New returns the strategy.
func New(svc *auth.Service) *Strategy { return &Strategy{svc: svc} }

// Name is "bearer".
func (s *Strategy) Name() string { return "bearer" }

func token(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(v[7:]), true
}

// Supports reports whether an Authorization: Bearer header is present.
func (s *Strategy) Supports(h http.Header) bool {
	_, ok := token(h)
	return ok
}

// Authenticate verifies the token.
func (s *Strategy) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	t, _ := token(h)
	return s.svc.BearerUser(ctx, t)
}

var _ ports.Authenticator = (*Strategy)(nil)
