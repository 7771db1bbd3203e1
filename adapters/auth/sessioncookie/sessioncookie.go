// Package sessioncookie is the auth strategy of browser sessions: the session
// cookie's secret resolves to a live session and its user.
package sessioncookie

import (
	"context"
	"net/http"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// Strategy authenticates by session cookie.
type Strategy struct {
	svc    *auth.Service
	cookie string
}

// New returns the strategy reading cookie name.
func New(svc *auth.Service, name string) *Strategy { return &Strategy{svc: svc, cookie: name} }

// Name is "session_cookie".
func (s *Strategy) Name() string { return "session_cookie" }

func (s *Strategy) value(h http.Header) string {
	c, err := (&http.Request{Header: h}).Cookie(s.cookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// Supports reports whether the session cookie is present.
func (s *Strategy) Supports(h http.Header) bool { return s.value(h) != "" }

// Authenticate resolves the session.
func (s *Strategy) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	return s.svc.SessionUser(ctx, s.value(h))
}

var _ ports.Authenticator = (*Strategy)(nil)
