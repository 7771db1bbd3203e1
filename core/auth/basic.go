package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Basic is the auth strategy of HTTP basic auth (email and password), for
// CLI tools. A password check is costly, so it is throttled like login, and a
// correct pair is remembered for a minute.
type Basic struct{ svc *Service }

// NewBasic returns the basic-auth strategy over svc's users and throttle.
func NewBasic(svc *Service) *Basic { return &Basic{svc: svc} }

// Name is "basic".
func (s *Basic) Name() string { return "basic" }

// Supports reports whether an Authorization: Basic header is present.
func (s *Basic) Supports(h http.Header) bool {
	v := h.Get("Authorization")
	return len(v) >= 6 && strings.EqualFold(v[:6], "basic ")
}

// Authenticate checks the email and password.
func (s *Basic) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	email, password, ok := (&http.Request{Header: h}).BasicAuth()
	if !ok || email == "" {
		return nil, core.Public(core.ErrUnauthorized, "malformed basic credentials")
	}
	return s.svc.BasicUser(ctx, email, password, ports.ClientIPFrom(ctx))
}

// BasicUser checks an email and password sent with HTTP basic auth,
// throttled like login. A correct pair is remembered for a minute (as an HMAC
// under a per-process key), so a busy client does not pay — nor make the
// server pay — a password hash on every request; a password change or a
// disabled account invalidates it at once.
func (s *Service) BasicUser(ctx context.Context, email, password, ip string) (*ports.UserContext, error) {
	local, err := s.Users.Local()
	if err != nil || !s.Users.Mode().HasPasswords() {
		return nil, core.Public(core.ErrUnauthorized, "basic auth is not available")
	}
	if len(email) > 254 || len(password) > 4096 {
		return nil, errBadLogin
	}
	var key string
	if s.BasicCache != nil {
		key = s.BasicCache.key(ports.TenantIDFrom(ctx), email, password)
		if id, version, ok := s.BasicCache.get(key); ok {
			u, uc, err := s.activeUser(ctx, id, "basic")
			if err == nil && u.TokenVersion == version {
				uc.AuthenticatedAt = time.Now()
				return uc, nil
			}
			s.BasicCache.drop(key)
		}
	}
	if err := s.Throttle.Check(ctx, ip, email); err != nil {
		return nil, err
	}
	u, err := local.CheckPassword(ctx, email, password)
	if errors.Is(err, core.ErrUnauthorized) {
		return nil, errBadLogin
	}
	if err != nil {
		return nil, err
	}
	s.Throttle.Succeeded(ctx, email)
	if s.BasicCache != nil {
		s.BasicCache.put(key, u.ID, u.TokenVersion)
	}
	uc := u.Context("basic")
	uc.Attributes = s.Users.Provider().Attributes(ctx, u)
	uc.AuthenticatedAt = time.Now()
	return uc, nil
}

var _ ports.Authenticator = (*Basic)(nil)
