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
	if s.Tokens == nil {
		return nil, core.Public(core.ErrNotSupported, "token issuing is not configured")
	}
	tok, err := s.Tokens.Issue(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	res := &LoginResult{Token: tok, User: u}
	if session {
		if s.Sessions == nil {
			return nil, core.Public(core.ErrNotSupported, "sessions are not enabled")
		}
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
