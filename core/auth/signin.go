package auth

import (
	"context"
	"fmt"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// signIn ends every sign-in method the same way a password login does: an
// access token for u, a new session when asked, and the login audit event
// (method names the way in; extra adds to the event).
func (s *Service) signIn(ctx context.Context, u *ports.User, method, ip, userAgent string, session bool, extra map[string]any) (*LoginResult, error) {
	if err := s.canSignIn(session); err != nil {
		return nil, err
	}
	tok, err := s.Tokens.Issue(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	res := &LoginResult{Token: tok, User: u}
	if session {
		if res.Session, err = s.Sessions.Start(ctx, u, ip, userAgent); err != nil {
			return nil, err
		}
	}
	ev := map[string]any{"method": method, "session": session}
	for k, v := range extra {
		ev[k] = v
	}
	s.audit.event(ctx, ports.AuditLogin, u.ID, ev)
	return res, nil
}

// canSignIn reports whether signIn can finish (a token issuer, and sessions
// when one is asked for): callers spending a single-use credential check it
// first, so a sign-in that cannot finish leaves the credential usable.
func (s *Service) canSignIn(session bool) error {
	if s.Tokens == nil {
		return core.Public(core.ErrNotSupported, "token issuing is not configured")
	}
	if session && s.Sessions == nil {
		return core.Public(core.ErrNotSupported, "sessions are not enabled")
	}
	return nil
}
