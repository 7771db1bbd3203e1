package sessioncookie_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/auth/sessioncookie"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

const cookieName = "fm_session"

// identity knows a fixed set of users.
type identity struct{ users map[string]*ports.User }

func (i identity) GetUser(_ context.Context, id string) (*ports.User, error) {
	u, ok := i.users[id]
	if !ok {
		return nil, core.Public(core.ErrNotFound, "user not found")
	}
	c := *u
	return &c, nil
}

func (identity) Authenticate(context.Context, ports.Credentials) (*ports.Token, error) {
	return nil, core.ErrUnauthorized
}

func (identity) Attributes(_ context.Context, u *ports.User) map[string]any {
	return map[string]any{"roles": u.Roles}
}

// sessionStore keeps sessions in memory and records every lookup.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]*ports.Session
	lookups  []string
}

func (s *sessionStore) Create(_ context.Context, sess *ports.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *sess
	s.sessions[sess.ID] = &c
	return nil
}

func (s *sessionStore) Get(_ context.Context, id string) (*ports.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups = append(s.lookups, id)
	sess, ok := s.sessions[id]
	if !ok {
		return nil, core.ErrNotFound
	}
	c := *sess
	return &c, nil
}

func (s *sessionStore) looked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lookups...)
}

func (s *sessionStore) Delete(context.Context, string) error                  { return nil }
func (s *sessionStore) DeleteAllForUser(context.Context, string) (int, error) { return 0, nil }
func (s *sessionStore) ListForUser(context.Context, string) ([]*ports.Session, error) {
	return nil, nil
}

type env struct {
	strategy *sessioncookie.Strategy
	store    *sessionStore
	started  *auth.Started
}

var ann = &ports.User{ID: "ann", Email: "ann@example.com", TenantID: "t1", Roles: []string{"Sales"}, IsActive: true}

func newEnv(t *testing.T) *env {
	t.Helper()
	store := &sessionStore{sessions: map[string]*ports.Session{}}
	sessions := auth.NewSessions(store, time.Hour)
	svc := &auth.Service{
		Users:    auth.NewUserManager(identity{users: map[string]*ports.User{"ann": ann}}, auth.ModeLocal, auth.PasswordPolicy{}, sessions, nil),
		Sessions: sessions,
	}
	started, err := sessions.Start(tctx(), ann, "192.0.2.1", "test")
	require.NoError(t, err)
	return &env{strategy: sessioncookie.New(svc, cookieName), store: store, started: started}
}

func tctx() context.Context { return ports.WithTenantID(context.Background(), "t1") }

func cookies(v string) http.Header {
	h := http.Header{}
	h.Set("Cookie", v)
	return h
}

func TestName(t *testing.T) {
	assert.Equal(t, "session_cookie", newEnv(t).strategy.Name())
}

func TestSupports(t *testing.T) {
	s := newEnv(t).strategy
	for _, tc := range []struct {
		name string
		h    http.Header
		want bool
	}{
		{"session cookie", cookies(cookieName + "=abc"), true},
		{"among other cookies", cookies("theme=dark; " + cookieName + "=abc; lang=en"), true},
		{"no headers", http.Header{}, false},
		{"empty value", cookies(cookieName + "="), false},
		{"other cookies only", cookies("theme=dark; lang=en"), false},
		{"cookie name in another case", cookies("FM_SESSION=abc"), false},
		{"cookie name as a prefix", cookies(cookieName + "_old=abc"), false},
		{"bearer token", http.Header{"Authorization": {"Bearer abc"}}, false},
		{"cookie name in another header", http.Header{"X-Session": {cookieName + "=abc"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.Supports(tc.h))
		})
	}
}

func TestSupportsConfiguredCookieName(t *testing.T) {
	s := sessioncookie.New(&auth.Service{}, "sid")
	assert.True(t, s.Supports(cookies("sid=abc")))
	assert.False(t, s.Supports(cookies(cookieName+"=abc")), "the default name means nothing to a renamed cookie")
}

func TestAuthenticate(t *testing.T) {
	for _, tc := range []struct{ name, header string }{
		{"alone", cookieName + "=%s"},
		{"among other cookies", "theme=dark; " + cookieName + "=%s; lang=en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h := cookies(fmt.Sprintf(tc.header, e.started.Secret))
			uc, err := e.strategy.Authenticate(tctx(), h)
			require.NoError(t, err)
			assert.Equal(t, []string{auth.HashSecret(e.started.Secret)}, e.store.looked(),
				"the cookie's secret is what resolves the session")
			assert.Equal(t, "ann", uc.ID)
			assert.Equal(t, "session_cookie", uc.Method)
			assert.Equal(t, e.started.Session.ID, uc.SessionID)
			assert.True(t, auth.CheckCSRF(uc.CSRFHash, e.started.CSRFToken))
		})
	}
}

func TestAuthenticateRefusals(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, secret string }{
		{"unknown secret", auth.RandomToken(32)},
		{"too short to be a secret", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uc, err := e.strategy.Authenticate(tctx(), cookies(cookieName+"="+tc.secret))
			assert.Nil(t, uc)
			require.ErrorIs(t, err, core.ErrUnauthorized)
		})
	}

	t.Run("session of a user that no longer exists", func(t *testing.T) {
		store := &sessionStore{sessions: map[string]*ports.Session{}}
		sessions := auth.NewSessions(store, time.Hour)
		svc := &auth.Service{
			Users:    auth.NewUserManager(identity{}, auth.ModeLocal, auth.PasswordPolicy{}, sessions, nil),
			Sessions: sessions,
		}
		started, err := sessions.Start(tctx(), ann, "", "")
		require.NoError(t, err)
		uc, err := sessioncookie.New(svc, cookieName).Authenticate(tctx(), cookies(cookieName+"="+started.Secret))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})

	t.Run("sessions not enabled", func(t *testing.T) {
		svc := &auth.Service{Users: auth.NewUserManager(identity{}, auth.ModeLocal, auth.PasswordPolicy{}, nil, nil)}
		uc, err := sessioncookie.New(svc, cookieName).Authenticate(tctx(), cookies(cookieName+"="+e.started.Secret))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})
}

var _ ports.Authenticator = (*sessioncookie.Strategy)(nil)
