package basic_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/auth/basic"
	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

const (
	annEmail    = "ann@example.com"
	annPassword = "pass:word with a colon"
)

type check struct{ email, password string }

// identity is a local identity with one user, recording password checks.
type identity struct {
	mu     sync.Mutex
	checks []check
}

var ann = ports.User{ID: "ann", Email: annEmail, TenantID: "t1", Roles: []string{"Sales"}, IsActive: true}

func (i *identity) CheckPassword(_ context.Context, email, password string) (*ports.User, error) {
	i.mu.Lock()
	i.checks = append(i.checks, check{email, password})
	i.mu.Unlock()
	if email != annEmail || password != annPassword {
		return nil, core.ErrUnauthorized
	}
	u := ann
	return &u, nil
}

func (i *identity) checked() []check {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]check(nil), i.checks...)
}

func (i *identity) GetUser(_ context.Context, id string) (*ports.User, error) {
	if id != ann.ID {
		return nil, core.ErrNotFound
	}
	u := ann
	return &u, nil
}

func (i *identity) Authenticate(context.Context, ports.Credentials) (*ports.Token, error) {
	return nil, core.ErrUnauthorized
}

func (i *identity) Attributes(_ context.Context, u *ports.User) map[string]any {
	return map[string]any{"roles": u.Roles}
}

func (i *identity) CreateUser(context.Context, ports.NewUser) (*ports.User, error) {
	return nil, core.ErrNotSupported
}

func (i *identity) FindByEmail(context.Context, string) (*ports.User, error) {
	return nil, core.ErrNotFound
}
func (i *identity) VerifyPassword(context.Context, string, string) error { return core.ErrUnauthorized }
func (i *identity) SetPassword(context.Context, string, string) error    { return core.ErrNotSupported }
func (i *identity) BumpTokenVersion(context.Context, string) error       { return core.ErrNotSupported }
func (i *identity) DeleteUser(context.Context, string, bool) error       { return core.ErrNotSupported }
func (i *identity) CountUsers(context.Context) (int64, error)            { return 1, nil }

var _ ports.LocalIdentity = (*identity)(nil)

// newStrategy returns the strategy over a service whose throttle allows
// perIP password checks per client address.
func newStrategy(perIP int) (*basic.Strategy, *identity) {
	ident := &identity{}
	svc := &auth.Service{
		Users:    auth.NewUserManager(ident, auth.ModeLocal, auth.PasswordPolicy{}, nil, nil),
		Throttle: auth.NewThrottle(memory.New(), perIP, 1000, time.Minute),
	}
	return basic.New(svc), ident
}

func creds(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func header(authz string) http.Header {
	h := http.Header{}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	return h
}

func reqCtx(ip string) context.Context {
	return ports.WithClientIP(ports.WithTenantID(context.Background(), "t1"), ip)
}

func TestName(t *testing.T) {
	s, _ := newStrategy(100)
	assert.Equal(t, "basic", s.Name())
}

func TestSupports(t *testing.T) {
	s, _ := newStrategy(100)
	c := creds(annEmail + ":" + annPassword)
	for _, tc := range []struct {
		name string
		h    http.Header
		want bool
	}{
		{"canonical scheme", header("Basic " + c), true},
		{"lower-case scheme", header("basic " + c), true},
		{"upper-case scheme", header("BASIC " + c), true},
		{"mixed-case scheme", header("bAsIc " + c), true},
		{"no headers", http.Header{}, false},
		{"empty authorization", http.Header{"Authorization": {""}}, false},
		{"scheme without credentials", header("Basic"), false},
		{"scheme glued to credentials", header("Basic" + c), false},
		{"bearer scheme", header("Bearer " + c), false},
		{"digest scheme", header("Digest username=\"ann\""), false},
		{"bare credentials", header(c), false},
		{"api key header only", http.Header{"X-Api-Key": {"fmk_abc"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.Supports(tc.h))
		})
	}
}

func TestAuthenticate(t *testing.T) {
	for _, tc := range []struct{ name, scheme string }{
		{"canonical scheme", "Basic "},
		{"lower-case scheme", "basic "},
		{"upper-case scheme", "BASIC "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ident := newStrategy(100)
			uc, err := s.Authenticate(reqCtx("192.0.2.1"), header(tc.scheme+creds(annEmail+":"+annPassword)))
			require.NoError(t, err)
			assert.Equal(t, []check{{annEmail, annPassword}}, ident.checked(),
				"the email and the whole password (colons included) reach the password check")
			assert.Equal(t, "ann", uc.ID)
			assert.Equal(t, "basic", uc.Method)
			assert.True(t, uc.HasRole("Sales"))
			assert.False(t, uc.AuthenticatedAt.IsZero())
		})
	}
}

func TestAuthenticateWrongPassword(t *testing.T) {
	s, ident := newStrategy(100)
	uc, err := s.Authenticate(reqCtx("192.0.2.1"), header("Basic "+creds(annEmail+":nope")))
	assert.Nil(t, uc)
	require.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Equal(t, []check{{annEmail, "nope"}}, ident.checked())
}

func TestAuthenticateMalformed(t *testing.T) {
	for _, tc := range []struct{ name, authz string }{
		{"not base64", "Basic !!!not-base64!!!"},
		{"no colon", "Basic " + creds("ann@example.com")},
		{"empty email", "Basic " + creds(":"+annPassword)},
		{"only a colon", "Basic " + creds(":")},
		{"nothing after the scheme", "Basic "},
		{"two spaces after the scheme", "Basic  " + creds(annEmail+":"+annPassword)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ident := newStrategy(100)
			uc, err := s.Authenticate(reqCtx("192.0.2.1"), header(tc.authz))
			assert.Nil(t, uc)
			require.ErrorIs(t, err, core.ErrUnauthorized)
			var pub *core.PublicError
			require.ErrorAs(t, err, &pub)
			assert.Equal(t, "malformed basic credentials", pub.Msg)
			assert.Empty(t, ident.checked(), "no password is checked")
		})
	}
}

// The client address in the context reaches the login throttle: with one
// check allowed per address, a second request from the same address is
// refused while another address still gets through.
func TestAuthenticateThrottlesByClientIP(t *testing.T) {
	s, ident := newStrategy(1)
	h := header("Basic " + creds(annEmail+":"+annPassword))

	_, err := s.Authenticate(reqCtx("192.0.2.1"), h)
	require.NoError(t, err)

	_, err = s.Authenticate(reqCtx("192.0.2.1"), h)
	require.ErrorIs(t, err, core.ErrTooMany, "same address, over its limit")

	_, err = s.Authenticate(reqCtx("198.51.100.7"), h)
	require.NoError(t, err, "another address has its own count")

	assert.Len(t, ident.checked(), 2, "the throttled request checked no password")
}

var _ ports.Authenticator = (*basic.Strategy)(nil)
