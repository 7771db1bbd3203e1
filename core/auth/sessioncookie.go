package auth

import (
	"context"
	"net/http"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// SessionCookie is the auth strategy of browser sessions: the session
// cookie's secret resolves to a live session and its user.
type SessionCookie struct {
	svc    *Service
	cookie string
}

// NewSessionCookie returns the strategy reading the cookie called name.
func NewSessionCookie(svc *Service, name string) *SessionCookie {
	return &SessionCookie{svc: svc, cookie: name}
}

// Name is "session_cookie".
func (s *SessionCookie) Name() string { return "session_cookie" }

func (s *SessionCookie) value(h http.Header) string {
	c, err := (&http.Request{Header: h}).Cookie(s.cookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// Supports reports whether the session cookie is present.
func (s *SessionCookie) Supports(h http.Header) bool { return s.value(h) != "" }

// Authenticate resolves the session.
func (s *SessionCookie) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	return s.svc.SessionUser(ctx, s.value(h))
}

// SessionUser resolves a session cookie's secret.
func (s *Service) SessionUser(ctx context.Context, secret string) (*ports.UserContext, error) {
	if s.Sessions == nil {
		return nil, core.Public(core.ErrUnauthorized, "sessions are not enabled")
	}
	sess, err := s.Sessions.Resolve(ctx, secret)
	if err != nil {
		return nil, err
	}
	u, uc, err := s.activeUser(ctx, sess.UserID, "session_cookie")
	if err != nil {
		return nil, err
	}
	if u.TokenVersion != sess.TokenVersion {
		// The password changed (or the user logged out everywhere) after this
		// session began — even if it was created while that happened.
		return nil, core.Public(core.ErrUnauthorized, "invalid or expired session")
	}
	uc.SessionID, uc.CSRFHash, uc.AuthenticatedAt = sess.ID, sess.CSRFHash, sess.CreatedAt
	return uc, nil
}

var _ ports.Authenticator = (*SessionCookie)(nil)
