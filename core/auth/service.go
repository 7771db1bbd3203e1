package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/ports"
)

// Service runs the authentication flows: login, logout, and turning each kind
// of credential into the same UserContext. Parts a mode does not use are nil.
type Service struct {
	Users       *UserManager
	Tokens      ports.TokenService
	Revocations ports.TokenRevocations
	// Revoked, when set, remembers what Revocations answered per token id,
	// kept exact by the change notices of the revocation records.
	Revoked  *events.Cache[bool]
	Sessions *Sessions
	APIKeys  *APIKeys
	Throttle *Throttle
	Log      *slog.Logger
	// BasicCache remembers correct basic-auth credentials for a minute; nil
	// checks the password on every request.
	BasicCache *VerifiedCache
	// Seen records the users gateway headers authenticate (federated mode;
	// nil: none), for the read-only user list of UserAdmin.
	Seen *SeenUsers

	audit *security // AuditTo
}

var errBadLogin = core.Public(core.ErrUnauthorized, "invalid email or password")

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// LoginRequest is a password login.
type LoginRequest struct {
	Email     string
	Password  string
	IP        string
	UserAgent string
	// Session asks for a session cookie besides the token.
	Session bool
}

// LoginResult is a successful login.
type LoginResult struct {
	Token   *ports.Token
	User    *ports.User
	Session *Started
}

// Login checks a password (throttled per address and per account) and issues a
// token, and a new session when asked. Every failure is the same 401. A
// temporary password (LoginResult.User.PasswordChangeRequired) logs in too:
// the principal it makes may only change the password, read /auth/me and log
// out until then.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	if !s.Users.Mode().HasPasswords() {
		return nil, core.Publicf(core.ErrNotSupported, "auth mode %q has no password login", s.Users.Mode())
	}
	if err := s.Throttle.Check(ctx, req.IP, req.Email); err != nil {
		return nil, err
	}
	tok, err := s.Users.Authenticate(ctx, ports.PasswordCredentials{Email: req.Email, Password: req.Password})
	if errors.Is(err, core.ErrUnauthorized) {
		s.log().InfoContext(ctx, "login failed", "ip", req.IP, "tenant", ports.TenantIDFrom(ctx))
		s.audit.event(ctx, ports.AuditLoginFailed, "", map[string]any{"login": truncateLogin(req.Email), "method": "password"})
		return nil, errBadLogin
	}
	if err != nil {
		return nil, err
	}
	s.Throttle.Succeeded(ctx, req.Email)
	u, err := s.Users.Get(ctx, tok.UserID)
	if err != nil {
		return nil, err
	}
	res := &LoginResult{Token: tok, User: u}
	if req.Session {
		if s.Sessions == nil {
			return nil, core.Public(core.ErrNotSupported, "sessions are not enabled")
		}
		if res.Session, err = s.Sessions.Start(ctx, u, req.IP, req.UserAgent); err != nil {
			return nil, err
		}
	}
	s.audit.event(ctx, ports.AuditLogin, u.ID, map[string]any{"method": "password", "session": req.Session})
	return res, nil
}

// truncateLogin bounds what a failed login's entry keeps of the login typed.
func truncateLogin(s string) string {
	if len(s) > 254 {
		return s[:254]
	}
	return s
}

// activeUser loads id and refuses inactive or unknown users as unauthorized.
func (s *Service) activeUser(ctx context.Context, id, method string) (*ports.User, *ports.UserContext, error) {
	u, err := s.Users.Get(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil, core.Publicf(core.ErrUnauthorized, "invalid %s credential", method)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load user: %w", err)
	}
	if !u.IsActive {
		return nil, nil, core.Public(core.ErrUnauthorized, "account disabled")
	}
	uc := u.Context(method)
	uc.Attributes = s.Users.Provider().Attributes(ctx, u)
	return u, uc, nil
}

// ReauthWindow is how recent a login must be to stand in for the password
// where the password is asked again (auth modes without passwords).
const ReauthWindow = 15 * time.Minute

// Confirm checks that the principal proves their identity again before a
// sensitive change (minting an API key): with the current password in local
// mode (throttled like login; a basic-auth request has just sent it), or by
// a login within ReauthWindow in modes without passwords. A stolen
// short-lived token therefore cannot mint a long-lived key.
func (s *Service) Confirm(ctx context.Context, u *ports.UserContext, currentPassword string) error {
	if u.Method == "basic" {
		return nil
	}
	if !s.Users.Mode().HasPasswords() {
		if !u.AuthenticatedAt.IsZero() && time.Since(u.AuthenticatedAt) <= ReauthWindow {
			return nil
		}
		return core.Public(core.ErrForbidden, "log in again to do this (your login is older than 15 minutes)")
	}
	return s.Users.VerifyCurrentPassword(ctx, u.ID, u.Email, currentPassword)
}

// Logout ends the session and revokes the token the principal presented.
func (s *Service) Logout(ctx context.Context, u *ports.UserContext) error {
	var errs []error
	if u.SessionID != "" && s.Sessions != nil {
		errs = append(errs, s.Sessions.End(ctx, u.SessionID))
	}
	if u.TokenID != "" && s.Revocations != nil {
		errs = append(errs, s.Revocations.Revoke(ctx, u.TokenID, u.ID, u.TokenExpiresAt))
	}
	err := errors.Join(errs...)
	if err == nil {
		s.audit.event(ctx, ports.AuditLogout, u.ID, map[string]any{"method": u.Method})
	}
	return err
}
