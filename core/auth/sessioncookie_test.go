package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

const sessionCookieCookieName = "fm_session"

// sessionStore keeps sessions in memory and records every lookup.
type sessionCookieSessionStore struct {
	mu       sync.Mutex
	sessions map[string]*ports.Session
	lookups  []string
}

func (s *sessionCookieSessionStore) Create(_ context.Context, sess *ports.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *sess
	s.sessions[sess.ID] = &c
	return nil
}

func (s *sessionCookieSessionStore) Get(_ context.Context, id string) (*ports.Session, error) {
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

func (s *sessionCookieSessionStore) looked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lookups...)
}

func (s *sessionCookieSessionStore) Delete(context.Context, string) error { return nil }
func (s *sessionCookieSessionStore) DeleteAllForUser(context.Context, string) (int, error) {
	return 0, nil
}
func (s *sessionCookieSessionStore) ListForUser(context.Context, string) ([]*ports.Session, error) {
	return nil, nil
}

type sessionCookieEnv struct {
	strategy *auth.SessionCookie
	store    *sessionCookieSessionStore
	started  *auth.Started
}

var sessionCookieAnn = &ports.User{ID: "ann", Email: "ann@example.com", TenantID: "t1", Roles: []string{"Sales"}, IsActive: true}

func sessionCookieNewEnv(t *testing.T) *sessionCookieEnv {
	t.Helper()
	store := &sessionCookieSessionStore{sessions: map[string]*ports.Session{}}
	sessions := auth.NewSessions(store, time.Hour)
	svc := &auth.Service{
		Users:    auth.NewUserManager(identityWith(sessionCookieAnn), auth.ModeLocal, auth.PasswordPolicy{}, sessions, nil),
		Sessions: sessions,
	}
	started, err := sessions.Start(sessionCookieTctx(), sessionCookieAnn, "192.0.2.1", "test")
	require.NoError(t, err)
	return &sessionCookieEnv{strategy: auth.NewSessionCookie(svc, sessionCookieCookieName), store: store, started: started}
}

func sessionCookieTctx() context.Context { return ports.WithTenantID(context.Background(), "t1") }

func sessionCookieCookies(v string) http.Header {
	h := http.Header{}
	h.Set("Cookie", v)
	return h
}

func TestSessionCookieName(t *testing.T) {
	assert.Equal(t, "session_cookie", sessionCookieNewEnv(t).strategy.Name())
}

func TestSessionCookieSupports(t *testing.T) {
	s := sessionCookieNewEnv(t).strategy
	for _, tc := range []struct {
		name string
		h    http.Header
		want bool
	}{
		{"session cookie", sessionCookieCookies(sessionCookieCookieName + "=abc"), true},
		{"among other cookies", sessionCookieCookies("theme=dark; " + sessionCookieCookieName + "=abc; lang=en"), true},
		{"no headers", http.Header{}, false},
		{"empty value", sessionCookieCookies(sessionCookieCookieName + "="), false},
		{"other cookies only", sessionCookieCookies("theme=dark; lang=en"), false},
		{"cookie name in another case", sessionCookieCookies("FM_SESSION=abc"), false},
		{"cookie name as a prefix", sessionCookieCookies(sessionCookieCookieName + "_old=abc"), false},
		{"bearer token", http.Header{"Authorization": {"Bearer abc"}}, false},
		{"cookie name in another header", http.Header{"X-Session": {sessionCookieCookieName + "=abc"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.Supports(tc.h))
		})
	}
}

func TestSessionCookieSupportsConfiguredCookieName(t *testing.T) {
	s := auth.NewSessionCookie(&auth.Service{}, "sid")
	assert.True(t, s.Supports(sessionCookieCookies("sid=abc")))
	assert.False(t, s.Supports(sessionCookieCookies(sessionCookieCookieName+"=abc")), "the default name means nothing to a renamed cookie")
}

func TestSessionCookieAuthenticate(t *testing.T) {
	for _, tc := range []struct{ name, header string }{
		{"alone", sessionCookieCookieName + "=%s"},
		{"among other cookies", "theme=dark; " + sessionCookieCookieName + "=%s; lang=en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sessionCookieNewEnv(t)
			h := sessionCookieCookies(fmt.Sprintf(tc.header, e.started.Secret))
			uc, err := e.strategy.Authenticate(sessionCookieTctx(), h)
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

func TestSessionCookieAuthenticateRefusals(t *testing.T) {
	e := sessionCookieNewEnv(t)
	for _, tc := range []struct{ name, secret string }{
		{"unknown secret", auth.RandomToken(32)},
		{"too short to be a secret", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uc, err := e.strategy.Authenticate(sessionCookieTctx(), sessionCookieCookies(sessionCookieCookieName+"="+tc.secret))
			assert.Nil(t, uc)
			require.ErrorIs(t, err, core.ErrUnauthorized)
		})
	}

	t.Run("session of a user that no longer exists", func(t *testing.T) {
		store := &sessionCookieSessionStore{sessions: map[string]*ports.Session{}}
		sessions := auth.NewSessions(store, time.Hour)
		svc := &auth.Service{
			Users:    auth.NewUserManager(identityWith(), auth.ModeLocal, auth.PasswordPolicy{}, sessions, nil),
			Sessions: sessions,
		}
		started, err := sessions.Start(sessionCookieTctx(), sessionCookieAnn, "", "")
		require.NoError(t, err)
		uc, err := auth.NewSessionCookie(svc, sessionCookieCookieName).Authenticate(sessionCookieTctx(), sessionCookieCookies(sessionCookieCookieName+"="+started.Secret))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})

	t.Run("sessions not enabled", func(t *testing.T) {
		svc := &auth.Service{Users: auth.NewUserManager(identityWith(), auth.ModeLocal, auth.PasswordPolicy{}, nil, nil)}
		uc, err := auth.NewSessionCookie(svc, sessionCookieCookieName).Authenticate(sessionCookieTctx(), sessionCookieCookies(sessionCookieCookieName+"="+e.started.Secret))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})
}

var _ ports.Authenticator = (*auth.SessionCookie)(nil)
