package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// memSessions is an in-memory ports.SessionStore that records every session
// it is given. Unlike a real store it returns expired sessions, so the tests
// can see that Sessions checks expiry itself.
type memSessions struct {
	mu      sync.Mutex
	m       map[string]ports.Session // tenant + "/" + id
	created []ports.Session
	getErr  error
}

func newMemSessions() *memSessions { return &memSessions{m: map[string]ports.Session{}} }

func skey(ctx context.Context, id string) string { return ports.TenantIDFrom(ctx) + "/" + id }

func (s *memSessions) Create(ctx context.Context, sess *ports.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.TenantID = ports.TenantIDFrom(ctx)
	if _, dup := s.m[skey(ctx, sess.ID)]; dup {
		return core.ErrConflict
	}
	s.m[skey(ctx, sess.ID)] = *sess
	s.created = append(s.created, *sess)
	return nil
}

func (s *memSessions) Get(ctx context.Context, id string) (*ports.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return nil, s.getErr
	}
	sess, ok := s.m[skey(ctx, id)]
	if !ok {
		return nil, fmt.Errorf("session %q: %w", id, core.ErrNotFound)
	}
	return &sess, nil
}

func (s *memSessions) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[skey(ctx, id)]; !ok {
		return core.ErrNotFound
	}
	delete(s.m, skey(ctx, id))
	return nil
}

func (s *memSessions) DeleteAllForUser(ctx context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, sess := range s.m {
		if sess.TenantID == ports.TenantIDFrom(ctx) && sess.UserID == userID {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

func (s *memSessions) ListForUser(ctx context.Context, userID string) ([]*ports.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*ports.Session
	for _, sess := range s.m {
		if sess.TenantID == ports.TenantIDFrom(ctx) && sess.UserID == userID {
			out = append(out, &sess)
		}
	}
	slices.SortFunc(out, func(a, b *ports.Session) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// count returns how many sessions userID has in tenant.
func (s *memSessions) count(tenant, userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.m {
		if sess.TenantID == tenant && sess.UserID == userID {
			n++
		}
	}
	return n
}

var _ ports.SessionStore = (*memSessions)(nil)

func TestSessionStartStoresOnlyHashes(t *testing.T) {
	ctx := tctx("default")
	store := newMemSessions()
	s := auth.NewSessions(store, time.Hour)
	u := &ports.User{ID: "u-1"}

	a, err := s.Start(ctx, u, "192.0.2.1", "test-agent")
	require.NoError(t, err)
	b, err := s.Start(ctx, u, "192.0.2.1", "test-agent")
	require.NoError(t, err)

	assert.NotEqual(t, a.Secret, b.Secret, "a new secret at every start (no fixation)")
	assert.NotEqual(t, a.CSRFToken, b.CSRFToken)
	assert.NotEqual(t, a.Session.ID, b.Session.ID)
	assert.GreaterOrEqual(t, len(a.Secret), 43, "256 bits")
	assert.GreaterOrEqual(t, len(a.CSRFToken), 43)
	assert.NotEqual(t, a.Secret, a.CSRFToken)

	require.Len(t, store.created, 2)
	for i, st := range []*auth.Started{a, b} {
		rec := store.created[i]
		assert.Equal(t, auth.HashSecret(st.Secret), rec.ID, "the handle is the secret's hash")
		assert.Equal(t, auth.HashSecret(st.CSRFToken), rec.CSRFHash)
		assert.Equal(t, "u-1", rec.UserID)
		assert.Equal(t, "default", rec.TenantID)
		assert.Equal(t, "192.0.2.1", rec.IPAddress)
		assert.Equal(t, "test-agent", rec.UserAgent)
		assert.WithinDuration(t, rec.CreatedAt.Add(time.Hour), rec.ExpiresAt, 0, "expires after the ttl")

		// The store never sees either secret, in any field.
		dump := fmt.Sprintf("%+v", rec)
		js, err := json.Marshal(rec)
		require.NoError(t, err)
		for _, secret := range []string{st.Secret, st.CSRFToken} {
			assert.NotContains(t, dump, secret)
			assert.NotContains(t, string(js), secret)
		}
	}

	long, err := s.Start(ctx, u, "", strings.Repeat("x", 2000))
	require.NoError(t, err)
	assert.Len(t, long.Session.UserAgent, 512, "user agents are truncated")
}

func TestSessionResolve(t *testing.T) {
	ctx := tctx("default")
	store := newMemSessions()
	s := auth.NewSessions(store, time.Hour)
	st, err := s.Start(ctx, &ports.User{ID: "u-1"}, "", "")
	require.NoError(t, err)

	got, err := s.Resolve(ctx, st.Secret)
	require.NoError(t, err)
	assert.Equal(t, st.Session.ID, got.ID)
	assert.Equal(t, "u-1", got.UserID)

	expired := auth.NewSessions(store, -time.Minute)
	old, err := expired.Start(ctx, &ports.User{ID: "u-1"}, "", "")
	require.NoError(t, err)

	for _, tc := range []struct{ name, secret string }{
		{"wrong secret", auth.RandomToken(32)},
		{"the handle instead of the secret", st.Session.ID},
		{"short secret", st.Secret[:19]},
		{"empty", ""},
		{"too long", strings.Repeat("a", 129)},
		{"expired", old.Secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := s.Resolve(ctx, tc.secret)
			assert.ErrorIs(t, err, core.ErrUnauthorized)
			assert.Nil(t, sess)
		})
	}

	// Secrets of the wrong length are refused before any lookup, even if a
	// session with their hash existed.
	for _, secret := range []string{"short-secret", strings.Repeat("a", 129)} {
		require.NoError(t, store.Create(ctx, &ports.Session{ID: auth.HashSecret(secret), UserID: "u-1", ExpiresAt: time.Now().Add(time.Hour)}))
		_, err := s.Resolve(ctx, secret)
		assert.ErrorIs(t, err, core.ErrUnauthorized, "secret of %d characters", len(secret))
	}

	t.Run("another tenant", func(t *testing.T) {
		_, err := s.Resolve(tctx("other"), st.Secret)
		assert.ErrorIs(t, err, core.ErrUnauthorized)
	})

	t.Run("store failure is not a 401", func(t *testing.T) {
		store.getErr = errors.New("store down")
		defer func() { store.getErr = nil }()
		_, err := s.Resolve(ctx, st.Secret)
		require.Error(t, err)
		assert.NotErrorIs(t, err, core.ErrUnauthorized)
	})
}

func TestSessionEndListRevoke(t *testing.T) {
	ctx := tctx("default")
	store := newMemSessions()
	s := auth.NewSessions(store, time.Hour)
	ann := &ports.User{ID: "ann"}
	bob := &ports.User{ID: "bob"}
	a1, err := s.Start(ctx, ann, "", "")
	require.NoError(t, err)
	a2, err := s.Start(ctx, ann, "", "")
	require.NoError(t, err)
	a3, err := s.Start(ctx, ann, "", "")
	require.NoError(t, err)
	b1, err := s.Start(ctx, bob, "", "")
	require.NoError(t, err)

	list, err := s.List(ctx, "ann")
	require.NoError(t, err)
	assert.Len(t, list, 3)

	require.NoError(t, s.End(ctx, a1.Session.ID))
	_, err = s.Resolve(ctx, a1.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "an ended session is gone")
	assert.NoError(t, s.End(ctx, a1.Session.ID), "ending twice is fine")

	err = s.Revoke(ctx, "ann", b1.Session.ID)
	assert.ErrorIs(t, err, core.ErrNotFound, "another user's session is not found")
	_, err = s.Resolve(ctx, b1.Secret)
	assert.NoError(t, err, "and stays")

	require.NoError(t, s.Revoke(ctx, "ann", a2.Session.ID))
	_, err = s.Resolve(ctx, a2.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	assert.ErrorIs(t, s.Revoke(ctx, "ann", a2.Session.ID), core.ErrNotFound)

	n, err := s.RevokeAll(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Resolve(ctx, a3.Secret)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	_, err = s.Resolve(ctx, b1.Secret)
	assert.NoError(t, err, "other users keep their sessions")

	assert.Same(t, store, s.Store())
	assert.Equal(t, time.Hour, s.TTL())
}

func TestCheckCSRF(t *testing.T) {
	token := auth.RandomToken(32)
	hash := auth.HashSecret(token)
	for _, tc := range []struct {
		name, hash, token string
		ok                bool
	}{
		{"right token", hash, token, true},
		{"wrong token", hash, auth.RandomToken(32), false},
		{"the hash itself", hash, hash, false},
		{"empty token", hash, "", false},
		{"empty hash", "", token, false},
		{"both empty", "", "", false},
		{"empty token against the hash of the empty string", auth.HashSecret(""), "", false},
		{"token too long", auth.HashSecret(strings.Repeat("a", 129)), strings.Repeat("a", 129), false},
		{"token differs in case", hash, strings.ToUpper(token), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.ok, auth.CheckCSRF(tc.hash, tc.token))
		})
	}
}
