package auth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

const (
	basicAnnEmail    = "ann@example.com"
	basicAnnPassword = "pass:word with a colon"
)

type basicCheck struct{ email, password string }

// identity is a local identity with one user, recording password checks.
type basicIdentity struct {
	mu     sync.Mutex
	checks []basicCheck
}

var basicAnn = ports.User{ID: "ann", Email: basicAnnEmail, TenantID: "t1", Roles: []string{"Sales"}, IsActive: true}

func (i *basicIdentity) CheckPassword(_ context.Context, email, password string) (*ports.User, error) {
	i.mu.Lock()
	i.checks = append(i.checks, basicCheck{email, password})
	i.mu.Unlock()
	if email != basicAnnEmail || password != basicAnnPassword {
		return nil, core.ErrUnauthorized
	}
	u := basicAnn
	return &u, nil
}

func (i *basicIdentity) checked() []basicCheck {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]basicCheck(nil), i.checks...)
}

func (i *basicIdentity) GetUser(_ context.Context, id string) (*ports.User, error) {
	if id != basicAnn.ID {
		return nil, core.ErrNotFound
	}
	u := basicAnn
	return &u, nil
}

func (i *basicIdentity) Authenticate(context.Context, ports.Credentials) (*ports.Token, error) {
	return nil, core.ErrUnauthorized
}

func (i *basicIdentity) Attributes(_ context.Context, u *ports.User) map[string]any {
	return map[string]any{"roles": u.Roles}
}

func (i *basicIdentity) CreateUser(context.Context, ports.NewUser) (*ports.User, error) {
	return nil, core.ErrNotSupported
}

func (i *basicIdentity) FindByEmail(context.Context, string) (*ports.User, error) {
	return nil, core.ErrNotFound
}
func (i *basicIdentity) VerifyPassword(context.Context, string, string) error {
	return core.ErrUnauthorized
}
func (i *basicIdentity) SetPassword(context.Context, string, string) error {
	return core.ErrNotSupported
}
func (i *basicIdentity) BumpTokenVersion(context.Context, string) error { return core.ErrNotSupported }
func (i *basicIdentity) DeleteUser(context.Context, string, bool) error { return core.ErrNotSupported }
func (i *basicIdentity) CountUsers(context.Context) (int64, error)      { return 1, nil }

var _ ports.LocalIdentity = (*basicIdentity)(nil)

// newStrategy returns the strategy over a service whose throttle allows
// perIP password checks per client address.
func basicNewStrategy(perIP int) (*auth.Basic, *basicIdentity) {
	ident := &basicIdentity{}
	svc := &auth.Service{
		Users:    auth.NewUserManager(ident, auth.ModeLocal, auth.PasswordPolicy{}, nil, nil),
		Throttle: auth.NewThrottle(memory.New(), perIP, 1000, time.Minute),
	}
	return auth.NewBasic(svc), ident
}

func basicCreds(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func basicHeader(authz string) http.Header {
	h := http.Header{}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	return h
}

func basicReqCtx(ip string) context.Context {
	return ports.WithClientIP(ports.WithTenantID(context.Background(), "t1"), ip)
}

func TestBasicName(t *testing.T) {
	s, _ := basicNewStrategy(100)
	assert.Equal(t, "basic", s.Name())
}

func TestBasicSupports(t *testing.T) {
	s, _ := basicNewStrategy(100)
	c := basicCreds(basicAnnEmail + ":" + basicAnnPassword)
	for _, tc := range []struct {
		name string
		h    http.Header
		want bool
	}{
		{"canonical scheme", basicHeader("Basic " + c), true},
		{"lower-case scheme", basicHeader("basic " + c), true},
		{"upper-case scheme", basicHeader("BASIC " + c), true},
		{"mixed-case scheme", basicHeader("bAsIc " + c), true},
		{"no headers", http.Header{}, false},
		{"empty authorization", http.Header{"Authorization": {""}}, false},
		{"scheme without credentials", basicHeader("Basic"), false},
		{"scheme glued to credentials", basicHeader("Basic" + c), false},
		{"bearer scheme", basicHeader("Bearer " + c), false},
		{"digest scheme", basicHeader("Digest username=\"ann\""), false},
		{"bare credentials", basicHeader(c), false},
		{"api key header only", http.Header{"X-Api-Key": {"fmk_abc"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.Supports(tc.h))
		})
	}
}

func TestBasicAuthenticate(t *testing.T) {
	for _, tc := range []struct{ name, scheme string }{
		{"canonical scheme", "Basic "},
		{"lower-case scheme", "basic "},
		{"upper-case scheme", "BASIC "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ident := basicNewStrategy(100)
			uc, err := s.Authenticate(basicReqCtx("192.0.2.1"), basicHeader(tc.scheme+basicCreds(basicAnnEmail+":"+basicAnnPassword)))
			require.NoError(t, err)
			assert.Equal(t, []basicCheck{{basicAnnEmail, basicAnnPassword}}, ident.checked(),
				"the email and the whole password (colons included) reach the password check")
			assert.Equal(t, "ann", uc.ID)
			assert.Equal(t, "basic", uc.Method)
			assert.True(t, uc.HasRole("Sales"))
			assert.False(t, uc.AuthenticatedAt.IsZero())
		})
	}
}

func TestBasicAuthenticateWrongPassword(t *testing.T) {
	s, ident := basicNewStrategy(100)
	uc, err := s.Authenticate(basicReqCtx("192.0.2.1"), basicHeader("Basic "+basicCreds(basicAnnEmail+":nope")))
	assert.Nil(t, uc)
	require.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Equal(t, []basicCheck{{basicAnnEmail, "nope"}}, ident.checked())
}

func TestBasicAuthenticateMalformed(t *testing.T) {
	for _, tc := range []struct{ name, authz string }{
		{"not base64", "Basic !!!not-base64!!!"},
		{"no colon", "Basic " + basicCreds("ann@example.com")},
		{"empty email", "Basic " + basicCreds(":"+basicAnnPassword)},
		{"only a colon", "Basic " + basicCreds(":")},
		{"nothing after the scheme", "Basic "},
		{"two spaces after the scheme", "Basic  " + basicCreds(basicAnnEmail+":"+basicAnnPassword)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ident := basicNewStrategy(100)
			uc, err := s.Authenticate(basicReqCtx("192.0.2.1"), basicHeader(tc.authz))
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
func TestBasicAuthenticateThrottlesByClientIP(t *testing.T) {
	s, ident := basicNewStrategy(1)
	h := basicHeader("Basic " + basicCreds(basicAnnEmail+":"+basicAnnPassword))

	_, err := s.Authenticate(basicReqCtx("192.0.2.1"), h)
	require.NoError(t, err)

	_, err = s.Authenticate(basicReqCtx("192.0.2.1"), h)
	require.ErrorIs(t, err, core.ErrTooMany, "same address, over its limit")

	_, err = s.Authenticate(basicReqCtx("198.51.100.7"), h)
	require.NoError(t, err, "another address has its own count")

	assert.Len(t, ident.checked(), 2, "the throttled request checked no password")
}

var _ ports.Authenticator = (*auth.Basic)(nil)
